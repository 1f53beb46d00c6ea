//! The engine's log of a container: what a container's `.../logs` family falls back to when the
//! journal holds none of its entries.

use crate::DockerManager;
use base::Error;
use bollard::query_parameters::LogsOptionsBuilder;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

impl DockerManager {
    /// The engine's log of the container `name`, stdout and stderr as written: the last `tail`
    /// lines (`None`: all), then, with `follow`, every new line. A container that does not exist
    /// has an empty log; an engine failure on the way is an item's error (with the engine's
    /// message), after which the stream ends. Nothing is asked of the engine until the stream is
    /// read.
    pub fn container_log(
        &self,
        name: &str,
        tail: Option<usize>,
        follow: bool,
    ) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
        let client = self.client()?;
        let tail = tail.map_or_else(|| "all".to_owned(), |lines| lines.to_string());
        let options = LogsOptionsBuilder::default().stdout(true).stderr(true).follow(follow).tail(&tail).build();
        let log = client.logs(name, Some(options)).map(|item| match item {
            Ok(output) => Ok(output.into_bytes()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(Bytes::new()),
            Err(e) => Err(Error::internal(e.to_string())),
        });
        Ok(log.boxed())
    }
}

//! The `/backups` API group.

use crate::location::{self, Backup, CLOUD_BACKUP};
use crate::manager::{AddonSelection, BackupJob, BackupManager, NewBackup, RestoreRequest, FREEZE_TIMEOUT};
use crate::model::{is_addon_slug, is_slug, AddonEntry, BackupType, FOLDERS, HOMEASSISTANT_FOLDER};
use actix_web::http::header;
use actix_web::{delete, get, post, web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use http_api::body::Body;
use http_api::routes::{Place, Requires, Reserved, Rule, BACKUP, INFO};
use http_api::Routes;
use http_api::{ok, ok_empty, ApiError, ApiResult};
use security::Caller;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::ToSchema;

const CLOUD_BACKUP_REFUSED: &str = "Location .cloud_backup is only available for Home Assistant";

/// The routes that take a `location`: only Core may name its own `.cloud_backup` folder there.
const fn cloud_backup_reserved(place: Place) -> Rule {
    BACKUP.reserving(Reserved {
        parameter: "location",
        place,
        value: CLOUD_BACKUP,
        to: Requires::Core,
        message: CLOUD_BACKUP_REFUSED,
    })
}
const LOCATION_IN_BODY: Rule = cloud_backup_reserved(Place::Body);
const LOCATION_IN_QUERY: Rule = cloud_backup_reserved(Place::Query);

/// The guard refuses a `.cloud_backup` that is named; this refuses it where it is the default: a
/// route that acts on a backup's first location when none is named, as the real handlers do.
fn refuse_default_cloud_backup(req: &HttpRequest, backups: &BackupManager, slug: &str) -> Result<(), ApiError> {
    if matches!(req.extensions().get::<Caller>(), Some(Caller::HomeAssistant)) {
        return Ok(());
    }
    if backups.get(slug)?.location().as_deref() == Some(CLOUD_BACKUP) {
        return Err(ApiError::forbidden(CLOUD_BACKUP_REFUSED));
    }
    Ok(())
}

/// Declares the group's routes: each handler with who may call it.
pub fn routes(routes: &mut Routes) {
    routes.tag("backups", "Backups and restore");
    routes
        .group("/backups")
        .route(BACKUP, backups_list)
        .route(INFO, backups_info)
        .route(BACKUP, backups_options)
        .route(BACKUP, backups_reload)
        .route(BACKUP, backups_freeze)
        .route(BACKUP, backups_thaw)
        .route(LOCATION_IN_BODY, backups_new_full)
        .route(LOCATION_IN_BODY, backups_new_partial)
        .route(LOCATION_IN_QUERY, backups_new_upload)
        .route(INFO, backup_info)
        .route(LOCATION_IN_BODY, backup_remove)
        .route(LOCATION_IN_QUERY, backup_download)
        .route(LOCATION_IN_BODY, backup_restore_full)
        .route(LOCATION_IN_BODY, backup_restore_partial);
}

#[derive(Serialize, ToSchema)]
pub struct BackupContent {
    homeassistant: bool,
    addons: Vec<String>,
    folders: Vec<String>,
}

/// A backup's copy in one location (`.local` is the backup folder).
#[derive(Serialize, ToSchema)]
pub struct LocationAttributes {
    protected: bool,
    size_bytes: u64,
}

/// One backup in a list.
#[derive(Serialize, ToSchema)]
pub struct BackupItem {
    slug: String,
    name: String,
    date: String,
    #[serde(rename = "type")]
    kind: BackupType,
    /// In MB, two decimals.
    size: f64,
    size_bytes: u64,
    /// The first of `locations`: a backup mount's name, `.cloud_backup`, or `null` for the
    /// backup folder.
    location: Option<String>,
    /// Every location the backup is in, the backup folder first.
    locations: Vec<Option<String>>,
    protected: bool,
    location_attributes: BTreeMap<String, LocationAttributes>,
    compressed: bool,
    content: BackupContent,
}

#[derive(Serialize, ToSchema)]
pub struct BackupsList {
    backups: Vec<BackupItem>,
}

#[derive(Serialize, ToSchema)]
pub struct BackupsInfo {
    backups: Vec<BackupItem>,
    days_until_stale: u32,
}

/// The details model.
#[derive(Serialize, ToSchema)]
pub struct BackupDetails {
    slug: String,
    #[serde(rename = "type")]
    kind: BackupType,
    name: String,
    date: String,
    size: f64,
    size_bytes: u64,
    compressed: bool,
    protected: bool,
    location_attributes: BTreeMap<String, LocationAttributes>,
    supervisor_version: String,
    homeassistant: Option<String>,
    location: Option<String>,
    locations: Vec<Option<String>>,
    addons: Vec<AddonEntry>,
    repositories: Vec<String>,
    folders: Vec<String>,
    homeassistant_exclude_database: Option<bool>,
    #[schema(value_type = Object)]
    extra: Map<String, Value>,
}

fn size_mb(bytes: u64) -> f64 {
    (bytes as f64 / 1_048_576.0 * 100.0).round() / 100.0
}

/// The size and encryption of the copy in each listed location.
fn attributes(backup: &Backup) -> BTreeMap<String, LocationAttributes> {
    backup
        .locations()
        .iter()
        .filter_map(|l| backup.copy(l).map(|file| (location::key(l).to_owned(), file)))
        .map(|(key, file)| (key, LocationAttributes { protected: file.protected(), size_bytes: file.size }))
        .collect()
}

fn item(backup: &Backup) -> BackupItem {
    let (meta, file) = (backup.meta(), backup.file());
    BackupItem {
        slug: meta.slug.clone(),
        name: meta.name.clone(),
        date: meta.date.clone(),
        kind: meta.kind,
        size: size_mb(file.size),
        size_bytes: file.size,
        location: backup.location(),
        locations: backup.locations(),
        protected: file.protected(),
        location_attributes: attributes(backup),
        compressed: meta.compressed,
        content: BackupContent {
            homeassistant: meta.homeassistant.is_some(),
            addons: meta.addons.iter().map(|addon| addon.slug.clone()).collect(),
            folders: meta.folders.clone(),
        },
    }
}

/// The backups listed: all but those only in Core's `.cloud_backup` folder.
fn items(backups: &BackupManager) -> Vec<BackupItem> {
    backups.list().iter().filter(|backup| backup.location().as_deref() != Some(CLOUD_BACKUP)).map(item).collect()
}

/// Every backup, in every location (a backup in several is listed once).
#[utoipa::path(tag = "backups", responses((status = 200, body = BackupsList)))]
#[get("")]
async fn backups_list(backups: web::Data<BackupManager>) -> ApiResult {
    ok(BackupsList { backups: items(&backups) })
}

/// Every backup and the manager's options.
#[utoipa::path(tag = "backups", responses((status = 200, body = BackupsInfo)))]
#[get("/info")]
async fn backups_info(backups: web::Data<BackupManager>) -> ApiResult {
    ok(BackupsInfo { backups: items(&backups), days_until_stale: backups.options().days_until_stale })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupsOptions {
    days_until_stale: Option<i64>,
}

/// Sets `days_until_stale` (at least 1).
#[utoipa::path(tag = "backups", request_body = BackupsOptions, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400)))]
#[post("/options")]
async fn backups_options(backups: web::Data<BackupManager>, body: Body<BackupsOptions>) -> ApiResult {
    if let Some(days) = body.into_inner().days_until_stale {
        let days = u32::try_from(days)
            .ok()
            .filter(|days| *days >= 1)
            .ok_or_else(|| ApiError::bad_request(format!("days_until_stale must be at least 1, got {days}")))?;
        backups.set_days_until_stale(days)?;
    }
    ok_empty()
}

/// Scans every location again.
#[utoipa::path(tag = "backups", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>)))]
#[post("/reload")]
async fn backups_reload(backups: web::Data<BackupManager>) -> ApiResult {
    backups.load().await;
    ok_empty()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// Seconds before the freeze ends by itself (default 600).
    timeout: Option<i64>,
}

/// Freezes the system for an external snapshot.
#[utoipa::path(tag = "backups", request_body = Freeze, responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400)))]
#[post("/freeze")]
async fn backups_freeze(backups: web::Data<BackupManager>, body: Body<Freeze>) -> ApiResult {
    let timeout = match body.into_inner().timeout {
        None => FREEZE_TIMEOUT,
        Some(seconds) => u64::try_from(seconds)
            .ok()
            .filter(|s| *s >= 1)
            .ok_or_else(|| ApiError::bad_request(format!("timeout must be at least 1 second, got {seconds}")))?,
    };
    backups.freeze(Duration::from_secs(timeout)).await?;
    ok_empty()
}

/// Ends a freeze made with `/backups/freeze`.
#[utoipa::path(tag = "backups", responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400)))]
#[post("/thaw")]
async fn backups_thaw(backups: web::Data<BackupManager>) -> ApiResult {
    backups.thaw().await?;
    ok_empty()
}

/// `location`: a backup mount's name, `.cloud_backup` (Core only), or `null`/`.local` for the
/// backup folder; one, or a list.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Location {
    One(Option<String>),
    Many(Vec<Option<String>>),
}

impl Location {
    /// The locations named, each once.
    fn into_list(self) -> Result<Vec<location::Location>, ApiError> {
        let names = match self {
            Location::One(one) => vec![one],
            Location::Many(many) => many,
        };
        locations(names)
    }
}

/// Locations as the API names them, each once.
fn locations(names: Vec<Option<String>>) -> Result<Vec<location::Location>, ApiError> {
    let keys = names.into_iter().map(|name| location::key(&location::parse(name)).to_owned()).collect();
    Ok(unique("location", keys)?.into_iter().map(|key| location::parse(Some(key))).collect())
}

/// The body of `new/full` and `new/partial`; `homeassistant`, `addons` and `folders` are for
/// partial backups only.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBackupBody {
    name: Option<String>,
    /// `<name>.tar`, no slashes.
    filename: Option<String>,
    password: Option<String>,
    /// `false` (or `null`): inner archives are not compressed.
    #[serde(default = "compressed_default")]
    compressed: Option<bool>,
    location: Option<Location>,
    homeassistant_exclude_database: Option<bool>,
    #[serde(default)]
    background: bool,
    #[schema(value_type = Object)]
    extra: Option<Map<String, Value>>,
    homeassistant: Option<bool>,
    /// Add-on slugs, or `ALL`.
    #[schema(value_type = Object)]
    addons: Option<Value>,
    folders: Option<Vec<String>>,
}

fn compressed_default() -> Option<bool> {
    Some(true)
}

impl NewBackupBody {
    /// The backup it asks for, checked.
    fn into_new(self, kind: BackupType) -> Result<(NewBackup, bool), ApiError> {
        check_filename(&self.filename)?;
        let locations = self.location.map(Location::into_list).transpose()?;
        let (homeassistant, addons, folders) = match kind {
            BackupType::Full => {
                let partial_only = [
                    ("homeassistant", self.homeassistant.is_some()),
                    ("addons", self.addons.is_some()),
                    ("folders", self.folders.is_some()),
                ];
                if let Some((key, _)) = partial_only.iter().find(|(_, given)| *given) {
                    return Err(ApiError::bad_request(format!("extra keys not allowed @ data['{key}']")));
                }
                (true, AddonSelection::All, FOLDERS.iter().map(|f| f.to_string()).collect())
            }
            BackupType::Partial => {
                let mut homeassistant = self.homeassistant.unwrap_or(false);
                let folders = check_folders(self.folders.unwrap_or_default(), &mut homeassistant)?;
                let addons = match &self.addons {
                    None => AddonSelection::Only(Vec::new()),
                    Some(all) if all == "ALL" => AddonSelection::All,
                    Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
                        let slugs: Vec<String> = list.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect();
                        // The CLI sends ALL as a list of one.
                        if slugs == ["ALL"] {
                            AddonSelection::All
                        } else {
                            AddonSelection::Only(unique("addons", slugs)?)
                        }
                    }
                    Some(_) => return Err(ApiError::bad_request("addons must be ALL or a list of add-on slugs")),
                };
                (homeassistant, addons, folders)
            }
        };
        let new = NewBackup {
            kind,
            name: self.name.unwrap_or_default(),
            filename: self.filename,
            password: self.password,
            compressed: self.compressed.unwrap_or(false),
            homeassistant,
            exclude_database: self.homeassistant_exclude_database.unwrap_or(false),
            addons,
            folders,
            extra: self.extra.unwrap_or_default(),
            locations,
        };
        Ok((new, self.background))
    }
}

/// A list without repeats, as the real schemas require.
fn unique(key: &str, items: Vec<String>) -> Result<Vec<String>, ApiError> {
    let mut seen = std::collections::HashSet::new();
    match items.iter().find(|item| !seen.insert(item.as_str())) {
        Some(repeated) => Err(ApiError::bad_request(format!("{key}: '{repeated}' is listed twice"))),
        None => Ok(items),
    }
}

/// A backup's file name: it names a file in the backup folder and reaches `Content-Disposition`
/// at download, so it is one plain name without quotes, separators or control characters.
fn check_filename(filename: &Option<String>) -> Result<(), ApiError> {
    if let Some(name) = filename {
        let stem = name.strip_suffix(".tar").unwrap_or("");
        if stem.is_empty() || name.starts_with('.') || !name.chars().all(filename_char) {
            return Err(ApiError::bad_request(format!(
                "filename '{}' must be a file name ending in .tar, without slashes, quotes, ';' or control characters",
                name.escape_debug()
            )));
        }
    }
    Ok(())
}

fn filename_char(c: char) -> bool {
    !(c.is_control() || matches!(c, '/' | '\\' | '"' | ';'))
}

/// Checks the folder names and turns `homeassistant` among them into the flag.
fn check_folders(folders: Vec<String>, homeassistant: &mut bool) -> Result<Vec<String>, ApiError> {
    let mut checked = Vec::new();
    for folder in folders {
        if folder == HOMEASSISTANT_FOLDER {
            *homeassistant = true;
        } else if !FOLDERS.contains(&folder.as_str()) {
            return Err(ApiError::bad_request(format!("folders: '{folder}' is not one of {}", FOLDERS.join(", "))));
        } else {
            checked.push(folder);
        }
    }
    unique("folders", checked)
}

/// A full backup: the Home Assistant configuration, every add-on and every folder.
#[utoipa::path(tag = "backups", request_body = NewBackupBody, responses((status = 200, description = "The job, and the new backup's slug once made", body = http_api::envelope::Envelope<BackupJob>), (status = 400)))]
#[post("/new/full")]
async fn backups_new_full(backups: web::Data<BackupManager>, body: Body<NewBackupBody>) -> ApiResult {
    let (new, background) = body.into_inner().into_new(BackupType::Full)?;
    start_backup(backups, new, background).await
}

/// A backup of what the body names.
#[utoipa::path(tag = "backups", request_body = NewBackupBody, responses((status = 200, description = "The job, and the new backup's slug once made", body = http_api::envelope::Envelope<BackupJob>), (status = 400)))]
#[post("/new/partial")]
async fn backups_new_partial(backups: web::Data<BackupManager>, body: Body<NewBackupBody>) -> ApiResult {
    let (new, background) = body.into_inner().into_new(BackupType::Partial)?;
    start_backup(backups, new, background).await
}

async fn start_backup(backups: web::Data<BackupManager>, new: NewBackup, background: bool) -> ApiResult {
    ok(backups.create(new, background).await?)
}

/// The query of an upload: `location` (repeated for more locations) and `filename`.
fn upload_query(query: Vec<(String, String)>) -> Result<(Vec<location::Location>, Option<String>), ApiError> {
    let mut names = Vec::new();
    let mut filename = None;
    for (key, value) in query {
        match key.as_str() {
            "location" => names.push(Some(value)),
            "filename" => filename = Some(value),
            other => return Err(ApiError::bad_request(format!("extra keys not allowed @ data['{other}']"))),
        }
    }
    check_filename(&filename)?;
    Ok((locations(names)?, filename))
}

/// Uploads a backup (multipart; the first part is the file) to the `location`s of the query (the
/// backup folder when none). It is listed only once it was read as a backup; anything else is
/// refused and not kept.
#[utoipa::path(tag = "backups", responses((status = 200, description = "The job, and the new backup's slug once made", body = http_api::envelope::Envelope<BackupJob>), (status = 400)))]
#[post("/new/upload")]
async fn backups_new_upload(
    backups: web::Data<BackupManager>,
    query: web::Query<Vec<(String, String)>>,
    mut payload: actix_multipart::Multipart,
) -> ApiResult {
    let (locations, filename) = upload_query(query.into_inner())?;
    let Some(field) = payload.next().await else {
        return Err(ApiError::bad_request("Improperly formatted upload, could not read backup"));
    };
    let field =
        field.map_err(|e| ApiError::bad_request(format!("Improperly formatted upload, could not read backup: {e}")))?;
    let slug = backups.upload(field, filename, locations).await?;
    ok(json!({"slug": slug}))
}

fn check_slug(slug: &str) -> Result<(), ApiError> {
    if is_slug(slug) {
        Ok(())
    } else {
        Err(ApiError::not_found("Backup does not exist"))
    }
}

/// The details of one backup.
#[utoipa::path(tag = "backups", params(("backup" = String, Path)), responses((status = 200, body = BackupDetails), (status = 404)))]
#[get("/{backup}/info")]
async fn backup_info(backups: web::Data<BackupManager>, path: web::Path<String>) -> ApiResult {
    check_slug(&path)?;
    let backup = backups.get(&path)?;
    let (meta, file) = (backup.meta(), backup.file());
    ok(BackupDetails {
        slug: meta.slug.clone(),
        kind: meta.kind,
        name: meta.name.clone(),
        date: meta.date.clone(),
        size: size_mb(file.size),
        size_bytes: file.size,
        compressed: meta.compressed,
        protected: file.protected(),
        location_attributes: attributes(&backup),
        supervisor_version: meta.supervisor_version.clone(),
        homeassistant: meta.homeassistant.as_ref().and_then(|ha| ha.version.clone()),
        location: backup.location(),
        locations: backup.locations(),
        addons: meta.addons.clone(),
        repositories: meta.repositories.clone(),
        folders: meta.folders.clone(),
        homeassistant_exclude_database: meta.homeassistant.as_ref().map(|ha| ha.exclude_database),
        extra: meta.extra.clone(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveBody {
    location: Option<Location>,
}

/// Deletes a backup from the `location`s named, or from every location.
#[utoipa::path(tag = "backups", params(("backup" = String, Path)), request_body = Option<RemoveBody>,
    responses((status = 200, body = http_api::envelope::Envelope<http_api::envelope::Empty>), (status = 400, body = http_api::envelope::ErrorEnvelope), (status = 404, body = http_api::envelope::ErrorEnvelope)))]
#[delete("/{backup}")]
async fn backup_remove(
    req: HttpRequest,
    backups: web::Data<BackupManager>,
    path: web::Path<String>,
    body: Body<RemoveBody>,
) -> ApiResult {
    check_slug(&path)?;
    let locations = body.into_inner().location.map(Location::into_list).transpose()?;
    if locations.is_none() {
        refuse_default_cloud_backup(&req, &backups, &path)?;
    }
    backups.remove(&path, locations)?;
    ok_empty()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadQuery {
    location: Option<String>,
}

/// The backup file in `location` (by default its first), streamed.
#[utoipa::path(tag = "backups", params(("backup" = String, Path)), responses((status = 200, content_type = "application/tar"), (status = 404)))]
#[get("/{backup}/download")]
async fn backup_download(
    req: HttpRequest,
    backups: web::Data<BackupManager>,
    path: web::Path<String>,
    query: web::Query<DownloadQuery>,
) -> Result<HttpResponse, ApiError> {
    check_slug(&path)?;
    let location = query.into_inner().location.map(|name| location::parse(Some(name)));
    if location.is_none() {
        refuse_default_cloud_backup(&req, &backups, &path)?;
    }
    let backup = backups.copy_of(&path, location)?;
    let Some(file) = backups.open(&backup).await else {
        return Ok(HttpResponse::NotFound().finish());
    };
    let file_name = backup.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let file_name = if file_name == format!("{}.tar", backup.meta.slug) {
        let cleaned: String =
            backup.meta.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        format!("{}.tar", collapse_underscores(&cleaned))
    } else {
        // A file put in the backup folder by hand may have any name; the header gets a safe one.
        file_name.chars().map(|c| if filename_char(c) && c.is_ascii() { c } else { '_' }).collect()
    };
    Ok(HttpResponse::Ok()
        .content_type("application/tar")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename={file_name}")))
        .insert_header((header::CONTENT_LENGTH, backup.size))
        .streaming(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20)))
}

/// Every run of replaced characters becomes one `_`, as the real Supervisor names downloads.
fn collapse_underscores(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreFull {
    password: Option<String>,
    #[serde(default)]
    background: bool,
    /// The copy to restore: a location of the backup (`null`/`.local`: the backup folder); by
    /// default its first.
    #[serde(default, deserialize_with = "http_api::body::present")]
    #[schema(value_type = Option<String>)]
    location: Option<Option<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestorePartial {
    password: Option<String>,
    #[serde(default)]
    background: bool,
    /// The copy to restore: a location of the backup (`null`/`.local`: the backup folder); by
    /// default its first.
    #[serde(default, deserialize_with = "http_api::body::present")]
    #[schema(value_type = Option<String>)]
    location: Option<Option<String>>,
    homeassistant: Option<bool>,
    addons: Option<Vec<String>>,
    folders: Option<Vec<String>>,
}

/// Restores everything in a full backup.
#[utoipa::path(tag = "backups", params(("backup" = String, Path)), request_body = RestoreFull, responses((status = 200, description = "The job, and the new backup's slug once made", body = http_api::envelope::Envelope<BackupJob>), (status = 400), (status = 404)))]
#[post("/{backup}/restore/full")]
async fn backup_restore_full(
    req: HttpRequest,
    backups: web::Data<BackupManager>,
    path: web::Path<String>,
    body: Body<RestoreFull>,
) -> ApiResult {
    check_slug(&path)?;
    let body = body.into_inner();
    let request = RestoreRequest {
        full: true,
        homeassistant: true,
        addons: Vec::new(),
        folders: Vec::new(),
        password: body.password,
        location: body.location.map(location::parse),
    };
    start_restore(&req, backups, &path, request, body.background).await
}

/// Restores what the body names.
#[utoipa::path(tag = "backups", params(("backup" = String, Path)), request_body = RestorePartial, responses((status = 200, description = "The job, and the new backup's slug once made", body = http_api::envelope::Envelope<BackupJob>), (status = 400), (status = 404)))]
#[post("/{backup}/restore/partial")]
async fn backup_restore_partial(
    req: HttpRequest,
    backups: web::Data<BackupManager>,
    path: web::Path<String>,
    body: Body<RestorePartial>,
) -> ApiResult {
    check_slug(&path)?;
    let body = body.into_inner();
    let mut homeassistant = body.homeassistant.unwrap_or(false);
    let folders = check_folders(body.folders.unwrap_or_default(), &mut homeassistant)?;
    let addons = unique("addons", body.addons.unwrap_or_default())?;
    if let Some(bad) = addons.iter().find(|slug| !is_addon_slug(slug)) {
        return Err(ApiError::bad_request(format!("addons: '{}' is not an add-on slug", bad.escape_debug())));
    }
    let request = RestoreRequest {
        full: false,
        homeassistant,
        addons,
        folders,
        password: body.password,
        location: body.location.map(location::parse),
    };
    start_restore(&req, backups, &path, request, body.background).await
}

async fn start_restore(
    req: &HttpRequest,
    backups: web::Data<BackupManager>,
    slug: &str,
    request: RestoreRequest,
    background: bool,
) -> ApiResult {
    if request.location.is_none() {
        refuse_default_cloud_backup(req, &backups, slug)?;
    }
    ok(backups.restore(slug, request, background).await?)
}

//! Prints the single-core throughput of v3 encryption and decryption of 256 MiB of zeros in
//! memory, and the time of one root key derivation:
//! `cargo run --release -p securetar --example throughput`.

use securetar::{v3_encrypted_size, Decryptor, Encryptor, Password, RootKey};
use std::io::{self, Read, Write};
use std::time::Instant;

const LEN: usize = 256 * 1024 * 1024;
const PIECE: usize = 1024 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let root = RootKey::new("benchmark")?;
    println!("root key (Argon2id):  {:>8.1} ms", started.elapsed().as_secs_f64() * 1e3);

    let zeros = vec![0u8; PIECE];
    let mut encrypted = Vec::with_capacity(usize::try_from(v3_encrypted_size(LEN as u64))?);
    let started = Instant::now();
    let mut encryptor = Encryptor::with_plaintext_size(&mut encrypted, &root, LEN as u64)?;
    for _ in 0..LEN / PIECE {
        encryptor.write_all(&zeros)?;
    }
    encryptor.finish()?;
    report("encrypt", started);

    // The header's password check derives the root key: outside the measured time, as above.
    let password = Password::new("benchmark");
    let mut decryptor = Decryptor::new(&encrypted[..], &password)?;
    let mut buffer = vec![0u8; PIECE];
    let started = Instant::now();
    let mut total = 0;
    loop {
        let n = decryptor.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        total += n;
    }
    report("decrypt", started);
    assert_eq!(total, LEN);

    // The same without the output vector's page faults: encryption into a sink.
    let started = Instant::now();
    let mut encryptor = Encryptor::with_plaintext_size(io::sink(), &root, LEN as u64)?;
    for _ in 0..LEN / PIECE {
        encryptor.write_all(&zeros)?;
    }
    encryptor.finish()?;
    report("encrypt to a sink", started);
    Ok(())
}

fn report(what: &str, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    println!("{what:<21} {:>8.1} MB/s ({seconds:.2} s for 256 MiB)", LEN as f64 / seconds / 1e6);
}

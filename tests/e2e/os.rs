//! The `/os` group against fixture services on a private bus.

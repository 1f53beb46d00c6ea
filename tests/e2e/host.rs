//! The `/host` group against fixture services on a private bus.

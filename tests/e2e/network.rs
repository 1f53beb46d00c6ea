//! The `/network` group against fixture services on a private bus.

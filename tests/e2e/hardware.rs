//! The `/hardware` group against fixture services on a private bus.

//! Typed client of the workshopd v1 API over its Unix socket.

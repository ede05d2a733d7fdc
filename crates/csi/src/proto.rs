//! The CSI spec's messages and services (`csi.v1`), generated at build time from the vendored
//! `proto/csi/v1.3.0/csi.proto`.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("csi.v1");

//! Fuzz target: what a kubelet sends the CSI plugin — protobuf bytes decoded as
//! `NodePublishVolumeRequest`, `NodeUnpublishVolumeRequest` and `NodeGetVolumeStatsRequest`, then
//! checked by `tinycdn_csi::request` — and the mount table parser, on arbitrary bytes.
#![no_main]

use prost::Message;
use std::path::Path;
use tinycdn_csi::proto::{
    NodeGetVolumeStatsRequest, NodePublishVolumeRequest, NodeUnpublishVolumeRequest,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let kubelet = Path::new("/var/lib/kubelet");
    if let Ok(req) = NodePublishVolumeRequest::decode(data) {
        if let Ok(p) = tinycdn_csi::request::publish(&req, kubelet) {
            assert!(p.target.starts_with("/var/lib/kubelet/pods/"));
            assert!(!p.source.key().contains('/'));
        }
    }
    if let Ok(req) = NodeUnpublishVolumeRequest::decode(data) {
        let _ = tinycdn_csi::request::unpublish(&req, kubelet);
    }
    if let Ok(req) = NodeGetVolumeStatsRequest::decode(data) {
        let _ = tinycdn_csi::request::stats(&req, kubelet);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tinycdn_csi::mountinfo::parse(text);
    }
});

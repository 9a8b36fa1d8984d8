//! The gpu interface's devices (reference-inventory §4.1, `gpu`): from the host's GPUs, one
//! CDI device per NVIDIA or AMD vendor and one DRM device per Intel card; none on a host
//! without GPUs (the connection is still made).

use std::collections::BTreeMap;

use crate::backend::Device;
use crate::lxd::GpuCard;

fn device(entries: &[(&str, &str)]) -> Device {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The devices of SDK `sdk`'s gpu plug, by name (`<sdk>_gpu_<vendor>[_<id>]`).
pub fn devices(sdk: &str, gpus: &[GpuCard]) -> BTreeMap<String, Device> {
    let mut out = BTreeMap::new();
    for card in gpus {
        match card.vendor_id.as_str() {
            "10de" => {
                let d = device(&[("type", "gpu"), ("gputype", "physical"), ("id", "nvidia.com/gpu=all")]);
                out.insert(format!("{sdk}_gpu_nvidia"), d);
            }
            "1002" => {
                let d = device(&[("type", "gpu"), ("gputype", "physical"), ("id", "amd.com/gpu=all")]);
                out.insert(format!("{sdk}_gpu_amd"), d);
            }
            "8086" => {
                let Some(drm) = &card.drm else { continue };
                let id = drm.id.to_string();
                let d = device(&[
                    ("type", "gpu"),
                    ("gputype", "physical"),
                    ("id", &id),
                    ("uid", "1000"),
                    ("gid", "1000"),
                ]);
                out.insert(format!("{sdk}_gpu_intel_{id}"), d);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lxd::GpuDrm;

    fn card(vendor: &str, drm: Option<u64>) -> GpuCard {
        GpuCard { vendor_id: vendor.into(), drm: drm.map(|id| GpuDrm { id }) }
    }

    #[test]
    fn devices_per_vendor_and_none_without_gpus() {
        assert!(devices("dev", &[]).is_empty(), "a host without GPUs");
        let all = devices(
            "dev",
            &[
                card("10de", Some(0)),
                card("10de", Some(1)),
                card("1002", None),
                card("8086", Some(2)),
                card("1af4", Some(3)),
            ],
        );
        let names: Vec<&str> = all.keys().map(String::as_str).collect();
        assert_eq!(names, ["dev_gpu_amd", "dev_gpu_intel_2", "dev_gpu_nvidia"]);
        assert_eq!(all["dev_gpu_nvidia"]["id"], "nvidia.com/gpu=all");
        assert_eq!(all["dev_gpu_amd"]["id"], "amd.com/gpu=all");
        let intel = &all["dev_gpu_intel_2"];
        assert_eq!(
            (intel["id"].as_str(), intel["uid"].as_str(), intel["gid"].as_str()),
            ("2", "1000", "1000")
        );
        assert!(all.values().all(|d| d["type"] == "gpu" && d["gputype"] == "physical"));
    }

    #[test]
    fn resources_of_lxd_read() {
        let json = r#"{"gpu":{"cards":[{"vendor_id":"8086","driver":"i915","drm":{"id":0,"card_name":"card0"}}],"total":1},"cpu":{}}"#;
        #[derive(serde::Deserialize)]
        struct R {
            gpu: G,
        }
        #[derive(serde::Deserialize)]
        struct G {
            cards: Vec<GpuCard>,
        }
        let r: R = serde_json::from_str(json).unwrap();
        assert_eq!(r.gpu.cards, [card("8086", Some(0))]);
    }
}

//! Which plug and slot a connection names, in the reference's words when it names none
//! (`ResolveConnect` of its repository, reference-inventory §4): an unknown plug or slot, a
//! slot left to choose on an SDK with none or several of the interface, or two interfaces
//! that do not meet. Used by `connect` and by the definition's `connections` entries.

use workshop_api::definition::{EndpointRef, SYSTEM_SDK};

use super::repo::Repo;

/// `"<workshop>/<sdk>"`, the reference's name of an SDK of a workshop.
fn sdk_ref(ws: &str, sdk: &str) -> String {
    format!("\"{ws}/{sdk}\"")
}

/// The reference's "no plug" error.
pub fn no_plug(ws: &str, plug: &EndpointRef) -> String {
    format!("{} SDK has no plug named \"{}\"", sdk_ref(ws, &plug.sdk), plug.name)
}

/// The reference's "no slot" error.
pub fn no_slot(ws: &str, slot: &EndpointRef) -> String {
    format!("{} SDK has no slot named \"{}\"", sdk_ref(ws, &slot.sdk), slot.name)
}

/// The reference's error for a name that is neither a plug nor a slot.
pub fn no_plug_or_slot(ws: &str, endpoint: &EndpointRef) -> String {
    format!("{} SDK has no plug or slot named \"{}\"", sdk_ref(ws, &endpoint.sdk), endpoint.name)
}

/// The slot `plug` connects to in workshop `ws`. `slot` is what was named: nothing (the
/// `system` slot of the plug's name, else the one `system` slot of its interface), an SDK
/// (its one slot of the interface) or a slot.
pub fn connect(
    repo: &Repo,
    ws: &str,
    plug: &EndpointRef,
    slot: Option<&EndpointRef>,
) -> Result<EndpointRef, String> {
    let p = repo.plug(plug).ok_or_else(|| no_plug(ws, plug))?;
    let slot = match slot {
        None => {
            let same_name = EndpointRef::new(SYSTEM_SDK, &plug.name);
            match repo.slot(&same_name) {
                Some(s) if s.interface == p.interface => same_name,
                _ => only_slot(repo, ws, SYSTEM_SDK, &p.interface)?,
            }
        }
        Some(s) if s.name.is_empty() => only_slot(repo, ws, &s.sdk, &p.interface)?,
        Some(s) => s.clone(),
    };
    let s = repo.slot(&slot).ok_or_else(|| no_slot(ws, &slot))?;
    if s.interface != p.interface {
        return Err(format!(
            "{} plug \"{ws}/{plug}\" incompatible with {} slot \"{ws}/{slot}\"",
            p.interface, s.interface
        ));
    }
    Ok(slot)
}

/// The one slot of `interface` on `sdk`.
fn only_slot(repo: &Repo, ws: &str, sdk: &str, interface: &str) -> Result<EndpointRef, String> {
    let mut names: Vec<&str> = repo
        .slots
        .iter()
        .filter(|s| s.sdk == sdk && s.interface == interface)
        .map(|s| s.name.as_str())
        .collect();
    names.sort_unstable();
    match names.as_slice() {
        [one] => Ok(EndpointRef::new(sdk, one)),
        [] => Err(format!("{} SDK has no {interface} interface slots", sdk_ref(ws, sdk))),
        many => Err(format!(
            "{} SDK has multiple {interface} interface slots: {}",
            sdk_ref(ws, sdk),
            many.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::managers::interface::repo::Endpoint;

    fn endpoint(sdk: &str, name: &str, interface: &str) -> Endpoint {
        Endpoint {
            sdk: sdk.into(),
            name: name.into(),
            interface: interface.into(),
            label: None,
            attrs: Default::default(),
            system: sdk == SYSTEM_SDK,
        }
    }

    fn repo() -> Repo {
        Repo {
            plugs: vec![endpoint("tools", "data", "mount"), endpoint("tools", "pg", "tunnel")],
            slots: vec![
                endpoint("system", "mount", "mount"),
                endpoint("system", "camera", "camera"),
                endpoint("tools", "a", "tunnel"),
                endpoint("tools", "b", "tunnel"),
                endpoint("system", "pg", "tunnel"),
            ],
            ..Repo::default()
        }
    }

    fn r(sdk: &str, name: &str) -> EndpointRef {
        EndpointRef::new(sdk, name)
    }

    #[test]
    fn slots_are_chosen_or_refused_in_the_references_words() {
        let repo = repo();
        let go = |plug: EndpointRef, slot: Option<EndpointRef>| connect(&repo, "ws", &plug, slot.as_ref());
        assert_eq!(go(r("tools", "pg"), None), Ok(r("system", "pg")));
        assert_eq!(go(r("tools", "data"), None), Ok(r("system", "mount")));
        assert_eq!(go(r("tools", "data"), Some(r("system", ""))), Ok(r("system", "mount")));
        assert_eq!(go(r("tools", "nope"), None), Err("\"ws/tools\" SDK has no plug named \"nope\"".into()));
        assert_eq!(
            go(r("tools", "data"), Some(r("system", "nope"))),
            Err("\"ws/system\" SDK has no slot named \"nope\"".into())
        );
        assert_eq!(
            go(r("tools", "pg"), Some(r("tools", ""))),
            Err("\"ws/tools\" SDK has multiple tunnel interface slots: a, b".into())
        );
        assert_eq!(
            go(r("tools", "data"), Some(r("tools", ""))),
            Err("\"ws/tools\" SDK has no mount interface slots".into())
        );
        assert_eq!(
            go(r("tools", "data"), Some(r("system", "camera"))),
            Err("mount plug \"ws/tools:data\" incompatible with camera slot \"ws/system:camera\"".into())
        );
    }
}

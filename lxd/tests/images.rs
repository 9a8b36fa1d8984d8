//! Images: alias lookup of the machine's base image, import of a split image from two
//! tarballs (multipart), aliases, listing, duplicate import, deletion.

use std::collections::BTreeMap;

use lxd_client::{ImageImport, Upload};

use crate::common::{self, Cleanup, IMAGE};

#[actix_rt::test]
async fn image_alias_and_import() {
    let Some(lxd) = common::lxd() else { return };
    let alias = lxd.get_image_alias(IMAGE).await.unwrap();
    assert_eq!(alias.name, IMAGE);
    let (base, _) = lxd.get_image(&alias.target).await.unwrap();
    assert_eq!(base.fingerprint, alias.target);
    assert_eq!(base.kind, "container");
    assert!(base.aliases.iter().any(|a| a.name == IMAGE));
    assert!(lxd.get_image_alias("wst-no-such-alias").await.unwrap_err().is_not_found());

    let cleanup = Cleanup::new();
    let tag = common::name("img");
    let dir = tempfile::tempdir().unwrap();
    let (meta, rootfs) = common::tiny_image(dir.path(), &tag);
    let options = ImageImport {
        filename: "wst.tar".into(),
        public: false,
        properties: BTreeMap::from([("workshop-base".to_owned(), tag.clone())]),
    };
    let fingerprint =
        lxd.import_image(Upload::File(meta.clone()), Upload::File(rootfs.clone()), &options).await.unwrap();
    cleanup.lxc(&["image", "delete", &fingerprint]);
    assert_eq!(fingerprint.len(), 64);
    let (image, _) = lxd.get_image(&fingerprint).await.unwrap();
    assert_eq!(image.properties["workshop-base"], tag);
    assert_eq!(image.properties["os"], "wst");
    assert_eq!(image.filename, "wst.tar");

    let duplicate = lxd.import_image(Upload::File(meta), Upload::File(rootfs), &options).await.unwrap_err();
    assert!(duplicate.is_already_exists(), "{duplicate:?}");

    lxd.create_image_alias(&tag, &fingerprint, "wst alias").await.unwrap();
    cleanup.lxc(&["image", "alias", "delete", &tag]);
    assert_eq!(lxd.get_image_alias(&tag).await.unwrap().target, fingerprint);
    let images = lxd.list_images().await.unwrap();
    let listed = images.iter().find(|i| i.fingerprint == fingerprint).expect("listed");
    assert_eq!(listed.aliases.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), vec![tag.as_str()]);

    lxd.delete_image_alias(&tag).await.unwrap();
    assert!(lxd.get_image_alias(&tag).await.unwrap_err().is_not_found());
    lxd.delete_image(&fingerprint).await.unwrap();
    assert!(lxd.get_image(&fingerprint).await.unwrap_err().is_not_found());
}

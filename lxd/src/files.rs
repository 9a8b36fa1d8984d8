//! Files inside instances (`/1.0/instances/{name}/files?path=`): pull, push, directories,
//! symlinks, delete, and recursive push of a host directory.

use std::path::Path;

use bytes::Bytes;
use serde_json::Value;

use super::client::{Body, Client, Req, Upload, api_path, decode, parse_envelope};
use super::error::{LxdError, Result};

/// What a path inside an instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Regular file.
    File,
    /// Directory.
    Directory,
    /// Symbolic link.
    Symlink,
}

impl FileKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Directory => "directory",
            Self::Symlink => "symlink",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "file" => Some(Self::File),
            "directory" => Some(Self::Directory),
            "symlink" => Some(Self::Symlink),
            _ => None,
        }
    }
}

/// Ownership and mode of a pulled path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// Kind.
    pub kind: FileKind,
    /// Owner uid (inside the instance).
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
}

/// Contents of a pulled path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    /// File bytes.
    File(Bytes),
    /// Entry names of a directory.
    Directory(Vec<String>),
    /// Link target.
    Symlink(String),
}

/// Ownership and mode for a push (None: LXD's default: root, 0644 files / 0755 directories).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushOptions {
    /// Owner uid inside the instance.
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
    /// Permission bits.
    pub mode: Option<u32>,
    /// Append instead of overwrite (extension `file_append`).
    pub append: bool,
}

impl PushOptions {
    /// Owned by uid/gid with this mode.
    pub fn owned(uid: u32, gid: u32, mode: u32) -> Self {
        Self { uid: Some(uid), gid: Some(gid), mode: Some(mode), append: false }
    }
}

/// Mode as LXD parses it (`strconv.ParseInt(v, 0, 0)`: a leading 0 means octal).
fn mode_header(mode: u32) -> String {
    format!("0{mode:o}")
}

fn parse_mode(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim(), 8).ok()
}

fn files_req(req: Req, path: &str) -> Req {
    req.query("path", path)
}

fn files_path(instance: &str) -> String {
    api_path(&["instances", instance, "files"])
}

impl Client {
    /// Reads a path inside an instance.
    pub async fn pull_file(&self, instance: &str, path: &str) -> Result<(FileInfo, FileContent)> {
        let raw = self.send_raw(files_req(Req::get(files_path(instance)), path)).await?.error_for_status()?;
        let number = |name: &str| raw.header(name).and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(0);
        let kind = raw.header("x-lxd-type").as_deref().and_then(FileKind::parse).unwrap_or(FileKind::File);
        let info = FileInfo {
            kind,
            uid: number("x-lxd-uid"),
            gid: number("x-lxd-gid"),
            mode: raw.header("x-lxd-mode").as_deref().and_then(parse_mode).unwrap_or(0),
        };
        let content = match kind {
            FileKind::File => FileContent::File(raw.body),
            FileKind::Symlink => {
                FileContent::Symlink(String::from_utf8_lossy(&raw.body).trim_end().to_owned())
            }
            FileKind::Directory => match parse_envelope(raw.status.as_u16(), &raw.body)? {
                super::client::Envelope::Sync(names) => {
                    FileContent::Directory(decode::<Option<Vec<String>>>(names)?.unwrap_or_default())
                }
                super::client::Envelope::Async(_) => {
                    return Err(LxdError::Decode("directory listing: unexpected operation".into()));
                }
            },
        };
        Ok((info, content))
    }

    /// Whether a path exists inside an instance, without reading what it holds.
    pub async fn path_exists(&self, instance: &str, path: &str) -> Result<bool> {
        let req = files_req(Req::get(files_path(instance)), path).without_body();
        match self.send_raw(req).await?.error_for_status() {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes a file inside an instance (parent directories must exist).
    pub async fn push_file(
        &self,
        instance: &str,
        path: &str,
        data: Upload,
        options: &PushOptions,
    ) -> Result<()> {
        let (len, stream) = data.open().await?;
        let body = Body::Stream { content_type: "application/octet-stream".into(), len, stream };
        self.push(instance, path, FileKind::File, body, options).await
    }

    /// Creates a directory inside an instance (no error if it exists).
    pub async fn create_directory(&self, instance: &str, path: &str, options: &PushOptions) -> Result<()> {
        let body = Body::Bytes { content_type: "application/octet-stream".into(), data: Bytes::new() };
        self.push(instance, path, FileKind::Directory, body, options).await
    }

    /// Creates a symlink inside an instance.
    pub async fn create_symlink(
        &self,
        instance: &str,
        path: &str,
        target: &str,
        options: &PushOptions,
    ) -> Result<()> {
        let body = Body::Bytes {
            content_type: "application/octet-stream".into(),
            data: Bytes::copy_from_slice(target.as_bytes()),
        };
        self.push(instance, path, FileKind::Symlink, body, options).await
    }

    /// Deletes a file or empty directory inside an instance (extension `file_delete`).
    pub async fn delete_file(&self, instance: &str, path: &str) -> Result<()> {
        self.sync::<Value>(files_req(Req::delete(files_path(instance)), path)).await.map(drop)
    }

    /// Copies a host directory tree to `target` inside the instance: directories first, then
    /// files and symlinks, keeping the host permission bits; ownership from `uid`/`gid` of
    /// `options` (root when None). Returns how many entries were pushed.
    pub async fn push_directory(
        &self,
        instance: &str,
        host_dir: &Path,
        target: &str,
        options: &PushOptions,
    ) -> Result<usize> {
        use std::os::unix::fs::PermissionsExt as _;
        let owner = |mode: u32| PushOptions {
            uid: options.uid,
            gid: options.gid,
            mode: Some(mode & 0o7777),
            append: false,
        };
        let top = tokio::fs::metadata(host_dir).await?;
        self.create_directory(instance, target, &owner(top.permissions().mode())).await?;
        let mut pushed = 1;
        let mut pending = vec![(host_dir.to_path_buf(), target.trim_end_matches('/').to_owned())];
        while let Some((dir, remote)) = pending.pop() {
            let mut entries = tokio::fs::read_dir(&dir).await?;
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name();
                let name = name
                    .to_str()
                    .ok_or_else(|| LxdError::Invalid(format!("non-UTF-8 file name in {}", dir.display())))?;
                let remote_path = format!("{remote}/{name}");
                let meta = tokio::fs::symlink_metadata(entry.path()).await?;
                let mode = meta.permissions().mode();
                if meta.file_type().is_symlink() {
                    let link = tokio::fs::read_link(entry.path()).await?;
                    self.create_symlink(instance, &remote_path, &link.to_string_lossy(), &owner(0o777))
                        .await?;
                } else if meta.is_dir() {
                    self.create_directory(instance, &remote_path, &owner(mode)).await?;
                    pending.push((entry.path(), remote_path));
                } else if meta.is_file() {
                    self.push_file(instance, &remote_path, Upload::File(entry.path()), &owner(mode)).await?;
                } else {
                    continue;
                }
                pushed += 1;
            }
        }
        Ok(pushed)
    }

    async fn push(
        &self,
        instance: &str,
        path: &str,
        kind: FileKind,
        body: Body,
        options: &PushOptions,
    ) -> Result<()> {
        let mut req = files_req(Req::post(files_path(instance)), path)
            .header("x-lxd-type", kind.as_str())
            .header("x-lxd-write", if options.append { "append" } else { "overwrite" })
            .body(body);
        if let Some(uid) = options.uid {
            req = req.header("x-lxd-uid", uid.to_string());
        }
        if let Some(gid) = options.gid {
            req = req.header("x-lxd-gid", gid.to_string());
        }
        if let Some(mode) = options.mode {
            req = req.header("x-lxd-mode", mode_header(mode));
        }
        self.sync::<Value>(req).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `answers` in turn on a Unix socket, one per connection, like LXD's file API:
    /// a file as large as the guest made it (headers, a first part, then a stall), or not found.
    fn serve(socket: &Path, answers: Vec<&'static str>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::os::unix::net::UnixListener::bind(socket).unwrap();
        std::thread::spawn(move || {
            for answer in answers {
                let (stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                let mut stream = stream;
                match answer {
                    "huge" => {
                        let head =
                            "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\nX-LXD-Type: file\r\n\r\n";
                        stream.write_all(head.as_bytes()).unwrap();
                        let _ = stream.write_all(&[b'x'; 64 << 10]);
                        // The rest never comes (a reader would wait for it).
                        std::thread::spawn(move || {
                            std::thread::sleep(std::time::Duration::from_secs(30));
                            drop(stream);
                        });
                    }
                    _ => {
                        let body = r#"{"type":"error","error_code":404,"error":"Not Found"}"#;
                        let head = format!(
                            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        stream.write_all(head.as_bytes()).unwrap();
                        stream.write_all(body.as_bytes()).unwrap();
                    }
                }
            }
        });
    }

    #[actix_rt::test]
    async fn a_path_is_probed_without_reading_it() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("lxd.socket");
        serve(&socket, vec!["huge", "missing"]);
        let client = Client::new(crate::Endpoint::Unix(socket)).unwrap();
        let probe = client.path_exists("ws", "/var/lib/workshop/run/actions");
        let exists = tokio::time::timeout(std::time::Duration::from_secs(5), probe).await;
        assert!(exists.expect("the probe does not read the 1 GiB file").unwrap());
        assert!(!client.path_exists("ws", "/nope").await.unwrap());
    }

    #[test]
    fn modes_are_octal_with_leading_zero() {
        assert_eq!(mode_header(0o644), "0644");
        assert_eq!(mode_header(0o4755), "04755");
        assert_eq!(mode_header(0o7), "07");
        assert_eq!(parse_mode("0644"), Some(0o644));
        assert_eq!(parse_mode("0755\n"), Some(0o755));
        assert_eq!(parse_mode("x"), None);
    }

    #[test]
    fn kinds() {
        for kind in [FileKind::File, FileKind::Directory, FileKind::Symlink] {
            assert_eq!(FileKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(FileKind::parse("socket"), None);
    }
}

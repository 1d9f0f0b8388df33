//! Static files from `dist/` and `demo/static/`: URL path → file, safely, with the right
//! content type.

use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

use crate::reply::{self, Resp};

/// Maps a URL path below `root` to a file path. `None` for anything that could leave
/// `root` or reach hidden files: `..`, `.` segments, dot-files, backslashes, NUL, bad
/// percent-encoding. The path is percent-decoded first, so `%2e%2e` is caught too.
pub fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode_str(url_path).decode_utf8().ok()?;
    let mut path = root.to_path_buf();
    for segment in decoded.split('/') {
        if segment.is_empty() {
            continue;
        }
        let bad = segment.starts_with('.')
            || segment.contains('\\')
            || segment.contains('\0')
            || segment.contains(':');
        if bad {
            return None;
        }
        path.push(segment);
    }
    Some(path)
}

/// Content type by file extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "ts" => "text/plain; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Reads a regular file (a directory gets its `index.html`); `None` when there is none.
pub async fn read(path: &Path) -> Option<(PathBuf, Vec<u8>)> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    let file = if meta.is_dir() { path.join("index.html") } else { path.to_path_buf() };
    let bytes = tokio::fs::read(&file).await.ok()?;
    Some((file, bytes))
}

/// Serves `url_path` below `root`; `None` when no such file.
pub async fn serve(root: &Path, url_path: &str) -> Option<Resp> {
    let path = resolve(root, url_path)?;
    let (file, bytes) = read(&path).await?;
    Some(reply::no_cache(reply::with_body(200, content_type(&file), bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_resolve_below_root() {
        let root = Path::new("/srv/static");
        assert_eq!(resolve(root, "/app1/index.html"), Some(root.join("app1/index.html")));
        assert_eq!(resolve(root, "//a//b"), Some(root.join("a/b")));
        assert_eq!(resolve(root, "/a%20b.js"), Some(root.join("a b.js")));
        assert_eq!(resolve(root, "/"), Some(root.to_path_buf()));
    }

    #[test]
    fn traversal_is_refused() {
        let root = Path::new("/srv/static");
        for evil in [
            "/../etc/passwd",
            "/app1/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2fetc%2fpasswd",
            "/..%5c..%5cwindows",
            "/a/./b",
            "/.git/config",
            "/a%00.js",
            "/C:/x",
            "/%ff",
        ] {
            assert_eq!(resolve(root, evil), None, "{evil}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("a.js")), "text/javascript; charset=utf-8");
        assert_eq!(content_type(Path::new("a.WASM")), "application/wasm");
        assert_eq!(content_type(Path::new("a.json")), "application/json");
        assert_eq!(content_type(Path::new("a.html")), "text/html; charset=utf-8");
        assert_eq!(content_type(Path::new("a.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("a.svg")), "image/svg+xml");
        assert_eq!(content_type(Path::new("a.png")), "image/png");
        assert_eq!(content_type(Path::new("a")), "application/octet-stream");
    }

    #[tokio::test]
    async fn serve_reads_files_and_refuses_escape() {
        let dir = std::env::temp_dir().join(format!("lockstep-demo-static-{}", std::process::id()));
        let root = dir.join("root");
        let _ = std::fs::create_dir_all(root.join("sub"));
        let _ = std::fs::write(dir.join("secret.txt"), "secret");
        let _ = std::fs::write(root.join("sub/index.html"), "<p>hi</p>");
        let ok = serve(&root, "/sub/").await.map(|r| r.status().as_u16());
        assert_eq!(ok, Some(200));
        assert!(serve(&root, "/../secret.txt").await.is_none());
        assert!(serve(&root, "/%2e%2e/secret.txt").await.is_none());
        assert!(serve(&root, "/missing.js").await.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

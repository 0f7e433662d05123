//! `get`: validate every name in a first walk, then create entries with exclusive
//! creation only, never outside the target.

use super::dir::dir_links;
use super::file::cat;
use super::node::*;
use crate::block::BlockSource;
use crate::unixfs::pb::DataType;
use cid::Cid;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Whether `name` is a safe single path component to create.
pub(super) fn is_safe_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// The entry names of directory `parent`, as `get` needs them: each safe (see
/// [`ExportError::UnsafeName`]) and none twice ([`ExportError::DuplicateName`]).
/// Sorts a copy of the name references: O(n log n), one pointer per entry.
pub fn check_names<'n>(
    parent: &Cid,
    names: impl Iterator<Item = &'n str>,
) -> Result<(), ExportError> {
    let mut sorted = Vec::new();
    for n in names {
        if !is_safe_name(n) {
            return Err(ExportError::UnsafeName {
                name: n.into(),
                parent: *parent,
            });
        }
        sorted.push(n);
    }
    sorted.sort_unstable();
    match sorted.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(ExportError::DuplicateName {
            name: w[0].into(),
            parent: *parent,
        }),
        None => Ok(()),
    }
}

/// One thing `get` creates, relative to the target.
pub(super) enum Item<'p> {
    Dir(&'p Path),
    File(&'p Path, &'p Cid),
    Symlink(&'p Path, &'p [u8]),
}

/// Walks the tree at `root` depth-first, calling `visit` for each item in creation
/// order (a directory before its entries). Names are checked per directory before
/// any of its entries is visited.
pub(super) fn walk(
    src: &impl BlockSource,
    root: &Cid,
    visit: &mut dyn FnMut(Item<'_>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut stack: Vec<(PathBuf, Cid, usize)> = vec![(PathBuf::new(), *root, 0)];
    while let Some((rel, cid, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(ExportError::TooDeep {
                cid,
                limit: MAX_DEPTH,
            });
        }
        let node = load_node(src, &cid)?;
        match node {
            Node::Raw(_) => visit(Item::File(&rel, &cid))?,
            Node::Unixfs(_, ref d) if matches!(d.kind, DataType::File | DataType::Raw) => {
                visit(Item::File(&rel, &cid))?
            }
            Node::Unixfs(ref pb, ref d) if d.kind == DataType::Symlink => {
                let target = d.data.as_deref().unwrap_or_default();
                if !pb.links.is_empty() || target.is_empty() || target.contains(&0) {
                    return Err(malformed(&cid, "bad symlink target"));
                }
                visit(Item::Symlink(&rel, target))?
            }
            node => {
                let Some(links) = dir_links(src, &cid, node)? else {
                    return Err(not_unixfs(&cid, "not a file, directory or symlink"));
                };
                check_names(&cid, links.iter().map(|(n, _)| n.as_str()))?;
                visit(Item::Dir(&rel))?;
                let first = stack.len();
                stack.extend(
                    links
                        .into_iter()
                        .map(|(n, l)| (rel.join(n), l.hash, depth + 1)),
                );
                stack[first..].reverse();
            }
        }
    }
    Ok(())
}

/// Writes the file, directory tree (HAMT too) or symlink at `cid` to `target`.
///
/// Safety: `target` must not exist. The whole tree is first walked without
/// writing, so an unsafe entry name anywhere (empty, `.`, `..`, containing `/` or
/// NUL) fails with [`ExportError::UnsafeName`], and a name held twice by one
/// directory with [`ExportError::DuplicateName`], before anything is created. Then
/// every entry is created exclusively (`mkdir`, `O_CREAT|O_EXCL`, `symlink`), which
/// never follows an existing symlink: a duplicate name fails instead of writing
/// through whatever holds the name. Mode and mtime are not applied.
pub fn get(src: &impl BlockSource, cid: &Cid, target: &Path) -> Result<(), ExportError> {
    let io_err = |path: &Path, source: io::Error| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    if fs::symlink_metadata(target).is_ok() {
        return Err(io_err(
            target,
            io::Error::new(io::ErrorKind::AlreadyExists, "target already exists"),
        ));
    }
    // `rel` is empty for the root: join would add a trailing slash.
    let at = |rel: &Path| {
        if rel.as_os_str().is_empty() {
            target.to_path_buf()
        } else {
            target.join(rel)
        }
    };
    walk(src, cid, &mut |_| Ok(()))?;
    walk(src, cid, &mut |item| match item {
        Item::Dir(rel) => {
            let p = at(rel);
            fs::create_dir(&p).map_err(|e| io_err(&p, e))
        }
        Item::File(rel, c) => {
            let p = at(rel);
            let f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&p)
                .map_err(|e| io_err(&p, e))?;
            let mut w = io::BufWriter::new(f);
            cat(src, c, 0, None, &mut w).map_err(|e| match e {
                ExportError::Output(source) => io_err(&p, source),
                other => other,
            })?;
            w.flush().map_err(|e| io_err(&p, e))
        }
        Item::Symlink(rel, to) => {
            let p = at(rel);
            make_symlink(to, &p).map_err(|e| io_err(&p, e))
        }
    })
}

#[cfg(unix)]
pub(super) fn make_symlink(to: &[u8], at: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(to), at)
}

#[cfg(not(unix))]
pub(super) fn make_symlink(_to: &[u8], _at: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "symlinks are only written on unix",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemStore;
    use crate::codec::dagpb::PbNode;
    use crate::unixfs::exporter::node::tests::{file_leaf, put};
    use crate::unixfs::pb::Data;

    #[test]
    fn get_refuses_a_name_twice() {
        let mut s = MemStore::new();
        let (a, b) = (file_leaf(&mut s, b"a"), file_leaf(&mut s, b"b"));
        let link = |name: &str, hash| crate::codec::dagpb::PbLink {
            hash,
            name: Some(name.into()),
            tsize: Some(1),
        };
        let dir = put(
            &mut s,
            &PbNode {
                links: vec![link("x", a), link("x", b)],
                data: Some(Data::new(DataType::Directory).encode()),
            },
        );
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("t");
        let e = get(&s, &dir, &target).unwrap_err();
        assert!(
            matches!(&e, ExportError::DuplicateName { name, parent } if &**name == "x" && *parent == dir),
            "{e}"
        );
        assert!(!target.exists());
        assert!(check_names(&dir, ["x", "y"].into_iter()).is_ok());
    }

    #[test]
    fn safe_names() {
        for bad in ["", ".", "..", "a/b", "../x", "x\0y", "/"] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
        for good in ["a", "...", "a b", "日本", ".hidden"] {
            assert!(is_safe_name(good), "{good:?}");
        }
    }
}

//! The path gateway's answers over UnixFS: a file (whole or one `Range`), a
//! directory's `index.html`, or an HTML listing.

use super::*;

impl Gateway {
    /// The path gateway's answer.
    pub(super) async fn unixfs(
        &self,
        req: &Request,
        arg: &str,
        name: &str,
        urls: &Urls<'_>,
        head_only: bool,
        slot: Slot,
    ) -> Result<Response, Fail> {
        let Urls {
            ipfs_path,
            visible,
            gateway,
        } = *urls;
        let a = arg.to_string();
        let target = self
            .blocking(move |c| {
                let PathStat { cid, kind, size } = c.stat(&a)?;
                Ok(match kind {
                    EntryKind::File | EntryKind::Raw => Target::File { cid, size },
                    EntryKind::Directory => {
                        let index = match c.stat(&format!("{cid}/index.html")) {
                            Ok(PathStat {
                                cid,
                                kind: EntryKind::File | EntryKind::Raw,
                                size,
                            }) => Some((cid, size)),
                            Ok(_) => None,
                            Err(e) if e.kind().gateway_status() == 404 => None,
                            Err(e) => return Err(e.into()),
                        };
                        Target::Directory { cid, index }
                    }
                    EntryKind::Symlink | EntryKind::Other => Target::Other { cid },
                })
            })
            .await?;
        match target {
            Target::File { cid, size } => {
                // `?filename=` names the file, for its type and the download.
                let filename = query_value(req, "filename").filter(|f| !f.is_empty());
                let ctype = match type_by_extension(filename.unwrap_or(name)) {
                    Some(t) => t,
                    None => {
                        let head = self
                            .blocking(move |c| {
                                let mut head = Vec::with_capacity(sniff::SNIFF_BYTES);
                                let len = Some(sniff::SNIFF_BYTES as u64);
                                c.cat(&[cid.to_string()], 0, len, &mut head)?;
                                Ok(head)
                            })
                            .await?;
                        sniff::sniff(&head)
                    }
                };
                let mut r = self
                    .file(req, cid, size, ctype, ipfs_path, head_only, slot)
                    .await?;
                if let Some(f) = filename {
                    let download = query_value(req, "download") == Some("true");
                    r.headers
                        .push(("Content-Disposition", content_disposition(f, download)));
                }
                Ok(r)
            }
            Target::Directory { cid, index } => {
                if !req.path.ends_with('/') {
                    let mut location = format!("{visible}/");
                    if !req.query.is_empty() {
                        let q = crate::http::encode_query(
                            req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                        );
                        location = format!("{location}?{q}");
                    }
                    let mut r = text(301, &format!("301 Moved Permanently: {location}"));
                    r.headers.push(("Location", location));
                    return Ok(r);
                }
                match index {
                    Some((icid, size)) => {
                        let ct = content_type("index.html");
                        self.file(req, icid, size, ct, ipfs_path, head_only, slot)
                            .await
                    }
                    None => self.listing(req, cid, ipfs_path, gateway, head_only).await,
                }
            }
            Target::Other { cid } => Err(Fail(
                501,
                format!(
                    "{cid} is not a UnixFS file or directory; ask for ?format=raw or ?format=car"
                ),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn file(
        &self,
        req: &Request,
        cid: Cid,
        size: u64,
        ctype: &str,
        ipfs_path: &str,
        head_only: bool,
        slot: Slot,
    ) -> Result<Response, Fail> {
        let etag = format!("\"{cid}\"");
        if none_match(req.header("if-none-match"), &etag) {
            return Ok(not_modified(&etag, ipfs_path));
        }
        let mut headers = common_headers(&etag, ipfs_path);
        headers.push(("Content-Type", ctype.to_string()));
        let (status, start, len) = match parse_range(req.header("range"), size) {
            RangeReq::Whole => (200, 0, size),
            RangeReq::Part(a, b) => {
                headers.push(("Content-Range", format!("bytes {a}-{b}/{size}")));
                (206, a, b - a + 1)
            }
            RangeReq::Unsatisfiable => {
                let mut r = text(416, "416 Range Not Satisfiable");
                r.headers.push(("Content-Range", format!("bytes */{size}")));
                return Ok(r);
            }
        };
        if head_only || len == 0 {
            return Ok(Response {
                status,
                headers,
                body: Body::Empty(Some(len)),
            });
        }
        // A rerun resumes after the bytes already sent.
        let (first, rx) = self
            .stream(slot, Reach::Block, Resume::Offset, move |c, w, done| {
                if done >= len {
                    return Ok(());
                }
                Ok(c.cat(&[cid.to_string()], start + done, Some(len - done), w)?)
            })
            .await?;
        Ok(Response {
            status,
            headers,
            body: Body::Sized(len, first, rx),
        })
    }

    /// An HTML listing; links to content are `{gateway}/ipfs/<cid>` (`gateway`
    /// empty on the path gateway).
    pub(super) async fn listing(
        &self,
        req: &Request,
        cid: Cid,
        ipfs_path: &str,
        gateway: &str,
        head_only: bool,
    ) -> Result<Response, Fail> {
        let etag = format!("\"DirIndex-acorn-{}_CID-{cid}\"", env!("CARGO_PKG_VERSION"));
        if none_match(req.header("if-none-match"), &etag) {
            return Ok(not_modified(&etag, ipfs_path));
        }
        let entries = self.blocking(move |c| Ok(c.ls(&cid.to_string())?)).await?;
        let title = html_escape(&req.path);
        let gateway = html_escape(gateway);
        let mut html = format!(
            "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
             <body>\n<h1>Index of {title}</h1>\n<p><a href=\"{gateway}/ipfs/{cid}\">{cid}</a></p>\n\
             <table>\n<tr><th>Name</th><th>Size</th><th>CID</th></tr>\n"
        );
        for e in entries.iter().take(MAX_LISTING_ENTRIES_COUNT) {
            let slash = if e.kind == EntryKind::Directory {
                "/"
            } else {
                ""
            };
            let href = utf8_percent_encode(&e.name, NON_ALPHANUMERIC);
            let size = if e.kind == EntryKind::Directory {
                "-".to_string()
            } else {
                e.size.to_string()
            };
            html.push_str(&format!(
                "<tr><td><a href=\"./{href}{slash}\">{}{slash}</a></td><td>{size}</td>\
                 <td><a href=\"{gateway}/ipfs/{c}\">{c}</a></td></tr>\n",
                html_escape(&e.name),
                c = e.cid,
            ));
        }
        html.push_str("</table>\n");
        if entries.len() > MAX_LISTING_ENTRIES_COUNT {
            html.push_str(&format!(
                "<p>{} more entries not shown</p>\n",
                entries.len() - MAX_LISTING_ENTRIES_COUNT
            ));
        }
        html.push_str("</body>\n</html>\n");
        let mut headers = common_headers(&etag, ipfs_path);
        headers.retain(|(n, _)| *n != "Accept-Ranges");
        headers.push(("Content-Type", "text/html; charset=utf-8".into()));
        let body = if head_only {
            Body::Empty(Some(html.len() as u64))
        } else {
            Body::Full(html.into_bytes())
        };
        Ok(Response {
            status: 200,
            headers,
            body,
        })
    }
}

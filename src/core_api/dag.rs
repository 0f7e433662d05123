//! IPLD DAGs: `dag put|get|import|export|stat`.
//!
//! **What.** The [`Dag`] group of the [core API](super): its trait, its result
//! types, and its two implementations, [`Local`] (this process's node) and
//! [`Remote`] (a daemon over the RPC API).
//!
//! **Spec.** Kubo's `ipfs dag` (`core/commands/dag/*.go`): `put` decodes its input
//! with `input-codec`, stores it with `store-codec` and answers `{"Cid":{"/"}}`;
//! `get` writes the node (or the value at an IPLD path) in `output-codec`;
//! `export` writes a CARv1; `import` stores CARs and answers one
//! `{"Root":{"Cid","PinErrorMsg"}}` per root (with `pin-roots`) and
//! `{"Stats":{"BlockCount","BlockBytesCount"}}`; `stat` answers Kubo 0.2x's
//! `DagStatSummary`, with the summary so far after each block as progress.
//!
//! **Flow.** [`Local`] calls [`Node`](crate::core::Node) (`dag_put`, `dag_get`,
//! `car_export`, `dag_import`, `dag_stat`). [`Remote`] sends one request per call:
//! `dag/put` with a one-part multipart body; `dag/import` with a multipart body
//! that a scoped thread writes from the [`CarSource`] into a pipe while the
//! answer is read (the daemon reads every CAR before it answers).
//!
//! **Limits.** A `dag put` input is held whole by the caller (front ends read at
//! most `MAX_DAG_INPUT_BYTES`); its block is at most `MAX_BLOCK_BYTES`, and over
//! the 1 MiB soft limit only with `allow_big_block`. `dag import` holds one
//! [`COPY_BUF_BYTES`] buffer per CAR stream; the node spools streams to disk.
//! A `dag get` path has at most `MAX_DAG_PATH_SEGMENTS` segments.
//!
//! **Departures.** `hash` is sha2-256 only. Through [`Remote`], `dag stat`
//! progress summaries carry what Kubo's progress lines carry (`TotalSize` and the
//! per-root figures), not the unique-block count.

use std::io::{Read, Write};

use cid::Cid;
use serde_json::Value;

use super::answer::cid_field;
use super::blocks::one_part_body;
use super::client::random_boundary;
use super::client::RequestBody;
use super::error::{bail, ensure, Context as _, Error, Kind, Result};
use super::{Local, Remote};
use acorn_storage::cids;

pub use crate::core::{Car, CarSource, DagStat, DagStatSummary, MAX_DAG_INPUT_BYTES};

/// Buffer of a CAR being sent to the daemon, in bytes.
pub const COPY_BUF_BYTES: usize = 64 * 1024;

/// How `dag put` reads and stores its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagPutOptions {
    /// Codec of the input (multicodec code; Kubo's default dag-json).
    pub input_codec: u64,
    /// Codec of the stored block (Kubo's default dag-cbor).
    pub store_codec: u64,
    /// Multihash function: only [`cids::SHA2_256`].
    pub hash: u64,
    /// Pin the node (recursively).
    pub pin: bool,
    /// Allow blocks over the 1 MiB soft limit.
    pub allow_big_block: bool,
}

impl Default for DagPutOptions {
    /// Kubo's defaults.
    fn default() -> Self {
        DagPutOptions {
            input_codec: cids::DAG_JSON,
            store_codec: cids::DAG_CBOR,
            hash: cids::SHA2_256,
            pin: false,
            allow_big_block: false,
        }
    }
}

/// One root of a `dag import` with `pin-roots` (Kubo's `RootMeta`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPin {
    pub cid: Cid,
    /// Why pinning it failed (`None`: pinned); Kubo's `PinErrorMsg`.
    pub pin_error: Option<String>,
}

/// What `dag import` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagImported {
    /// Each root with its pin result; empty without `pin_roots`.
    pub roots: Vec<RootPin>,
    /// Blocks read (Kubo's `BlockCount`).
    pub block_count: u64,
    /// Bytes of block data read (Kubo's `BlockBytesCount`).
    pub block_bytes_count: u64,
}

/// A hash function by name, as `dag put --hash` spells it.
pub fn hash_from_name(name: &str) -> Result<u64> {
    match name {
        "sha2-256" => Ok(cids::SHA2_256),
        other => bail!("unsupported hash {other:?} (only sha2-256)"),
    }
}

/// The options' hash check ([`hash_from_name`] refuses the same with Kubo's words).
fn check_hash(opts: &DagPutOptions) -> Result<()> {
    ensure!(
        opts.hash == cids::SHA2_256,
        "unsupported hash 0x{:x} (only sha2-256)",
        opts.hash
    );
    Ok(())
}

fn codec_name(code: u64) -> Result<&'static str> {
    cids::codec_name(code).with_context(|| format!("unknown codec 0x{code:x}"))
}

/// Kubo's `ResolveToLastNode`: dag-pb segments are UnixFS names (HAMT shards
/// read through); inside a dag-cbor or dag-json block, map keys and list indexes
/// are walked, a link moves to its block (the remainder starts over) and any
/// other value adds its segment to the remainder. A segment a block does not have
/// (a raw block has none) is an error naming it.
fn resolve_to_last_block(local: &Local, path: &str) -> Result<(Cid, String)> {
    use acorn_storage::codec::{self, Ipld};
    let node = local.node();
    let s = path.strip_prefix("/ipfs/").unwrap_or(path);
    let (c, rest) = s.split_once('/').unwrap_or((s, ""));
    let mut cid = cids::parse(c)?;
    let segments: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    ensure!(
        segments.len() <= crate::core::MAX_DAG_PATH_SEGMENTS,
        "path has over {} segments",
        crate::core::MAX_DAG_PATH_SEGMENTS
    );
    let mut rem: Vec<&str> = Vec::new();
    // The value inside `cid` at `rem`, once decoded.
    let mut value: Option<Ipld> = None;
    for seg in segments {
        if cid.codec() == cids::DAG_PB && rem.is_empty() {
            cid = node.resolve_arg(&format!("{cid}/{seg}"))?;
            continue;
        }
        let v = match value.take() {
            Some(v) => v,
            None => codec::decode(cid.codec(), &node.block_get(&cid)?)
                .with_context(|| format!("decoding {cid}"))?,
        };
        let next = match v {
            Ipld::Map(mut m) => m.remove(seg),
            Ipld::List(mut l) => seg
                .parse::<usize>()
                .ok()
                .filter(|i| *i < l.len())
                .map(|i| l.swap_remove(i)),
            _ => None,
        }
        .ok_or_else(|| Error::new(Kind::NotFound, format!("no link named {seg:?} under {cid}")))?;
        match next {
            Ipld::Link(l) => {
                cid = l;
                rem.clear();
            }
            other => {
                rem.push(seg);
                value = Some(other);
            }
        }
    }
    Ok((cid, rem.join("/")))
}

/// Summaries of `dag stat` as they grow, one per block walked.
pub type DagStatProgress<'a> = &'a mut dyn FnMut(&DagStatSummary) -> Result<()>;

/// IPLD DAGs: `dag put|get|import|export|stat`.
pub trait Dag {
    /// `dag put`: decodes `data` with the input codec, stores it with the store
    /// codec; the new block's CID.
    fn dag_put(&self, data: &[u8], opts: &DagPutOptions) -> Result<Cid>;

    /// `dag get <cid>[/path]`: writes the node (or the value at the IPLD path) to
    /// `out`, encoded with `output_codec`.
    fn dag_get(&self, path: &str, output_codec: u64, out: &mut dyn Write) -> Result<()>;

    /// `dag resolve <cid>[/path]`: the CID of the last block the path reaches and
    /// the rest of the path inside that block (Kubo's `Cid` and `RemPath`; empty
    /// when the path ends on a link).
    fn dag_resolve(&self, path: &str) -> Result<(Cid, String)>;

    /// `dag export <cid or path>`: writes the DAG as a CARv1 to `out`.
    fn dag_export(&self, root: &str, out: &mut dyn Write) -> Result<()>;

    /// The gateway's trustless CAR of `root`: the whole DAG or, with `root_only`,
    /// the root block alone; in the daemon missing blocks are fetched over bitswap.
    /// The number of blocks written. No RPC command answers the root-only form, so
    /// [`Remote`] refuses it.
    fn car_export(&self, root: &Cid, root_only: bool, out: &mut dyn Write) -> Result<u64>;

    /// `dag import`: stores the CARs of `cars` (nothing unless every one is valid)
    /// and with `pin_roots` pins their roots (each root's failure is its own).
    fn dag_import(&self, cars: &mut (dyn CarSource + Send), pin_roots: bool)
        -> Result<DagImported>;

    /// `dag stat`: sizes and block counts of the DAGs under `roots` (CIDs or
    /// paths); `progress` sees the summary so far after each block.
    fn dag_stat(
        &self,
        roots: &[String],
        progress: Option<DagStatProgress<'_>>,
    ) -> Result<DagStatSummary>;
}

impl Dag for Local {
    fn car_export(&self, root: &Cid, root_only: bool, out: &mut dyn Write) -> Result<u64> {
        Ok(self.node().car_export(root, root_only, out)?)
    }

    fn dag_put(&self, data: &[u8], opts: &DagPutOptions) -> Result<Cid> {
        check_hash(opts)?;
        Ok(self.node().dag_put(
            data,
            opts.input_codec,
            opts.store_codec,
            opts.pin,
            opts.allow_big_block,
        )?)
    }

    fn dag_get(&self, path: &str, output_codec: u64, out: &mut dyn Write) -> Result<()> {
        let value = self.node().dag_get(path)?;
        out.write_all(&acorn_storage::codec::encode(output_codec, &value)?)?;
        Ok(out.flush()?)
    }

    fn dag_resolve(&self, path: &str) -> Result<(Cid, String)> {
        resolve_to_last_block(self, path)
    }

    fn dag_export(&self, root: &str, out: &mut dyn Write) -> Result<()> {
        let node = self.node();
        let root = node.resolve_arg(root)?;
        node.car_export(&root, false, out)?;
        Ok(out.flush()?)
    }

    fn dag_import(
        &self,
        cars: &mut (dyn CarSource + Send),
        pin_roots: bool,
    ) -> Result<DagImported> {
        let done = self.node().dag_import(cars, pin_roots)?;
        Ok(DagImported {
            roots: done
                .pinned
                .into_iter()
                .map(|(cid, pin_error)| RootPin { cid, pin_error })
                .collect(),
            block_count: done.summary.blocks,
            block_bytes_count: done.summary.bytes,
        })
    }

    fn dag_stat(
        &self,
        roots: &[String],
        progress: Option<DagStatProgress<'_>>,
    ) -> Result<DagStatSummary> {
        ensure!(!roots.is_empty(), "argument \"root\" is required");
        let node = self.node();
        let cids = roots
            .iter()
            .map(|r| node.resolve_arg(r))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(match progress {
            Some(p) => node.dag_stat(&cids, &mut |s| Ok(p(s)?))?,
            None => node.dag_stat(&cids, &mut |_| Ok(()))?,
        })
    }
}

/// A `dag/stat` answer (Kubo's JSON, zero fields left out) as a summary.
pub fn parse_dag_stat(v: &Value) -> Result<DagStatSummary> {
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    let total_size = n(v, "TotalSize");
    let mut dags = Vec::new();
    for d in v["DagStats"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        dags.push(DagStat {
            cid: cid_field(d, "Cid")?,
            size: n(d, "Size"),
            num_blocks: n(d, "NumBlocks"),
        });
    }
    Ok(DagStatSummary {
        unique_blocks: n(v, "UniqueBlocks"),
        total_size,
        redundant_size: total_size + n(v, "SharedSize"),
        dags,
    })
}

/// Writes `cars` to `pipe` as a multipart body. A failure to read a CAR is the
/// error; a failure to write the pipe (the daemon stopped reading) ends the body
/// quietly, since the daemon's answer says why.
fn write_cars(
    cars: &mut (dyn CarSource + Send),
    boundary: &str,
    mut pipe: std::io::PipeWriter,
) -> Result<()> {
    let mut buf = vec![0u8; COPY_BUF_BYTES];
    let mut first = true;
    while let Some(car) = cars.next_car()? {
        let mut file;
        let (name, reader): (String, &mut dyn Read) = match car {
            Car::File(p) => {
                file =
                    std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
                (p.display().to_string(), &mut file)
            }
            Car::Stream { name, reader } => (name, reader),
        };
        let lead = if first { "" } else { "\r\n" };
        first = false;
        let escaped =
            percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC);
        let head = format!(
            "{lead}--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{escaped}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        if pipe.write_all(head.as_bytes()).is_err() {
            return Ok(());
        }
        loop {
            let n = reader
                .read(&mut buf)
                .with_context(|| format!("reading {name}"))?;
            if n == 0 {
                break;
            }
            if pipe.write_all(&buf[..n]).is_err() {
                return Ok(());
            }
        }
    }
    let lead = if first { "" } else { "\r\n" };
    let _ = pipe.write_all(format!("{lead}--{boundary}--\r\n").as_bytes());
    Ok(())
}

impl Dag for Remote {
    fn car_export(&self, root: &Cid, _: bool, _: &mut dyn Write) -> Result<u64> {
        bail!("the CAR of {root} is made by the daemon's gateway, not over the RPC API")
    }

    fn dag_put(&self, data: &[u8], opts: &DagPutOptions) -> Result<Cid> {
        check_hash(opts)?;
        let q: Vec<(&str, String)> = vec![
            ("input-codec", codec_name(opts.input_codec)?.into()),
            ("store-codec", codec_name(opts.store_codec)?.into()),
            ("hash", "sha2-256".into()),
            ("pin", opts.pin.to_string()),
            ("allow-big-block", opts.allow_big_block.to_string()),
        ];
        let resp = self
            .client()
            .post("dag/put", &q, Some(one_part_body(data)))?;
        let mut put = None;
        resp.ndjson(&mut |v| {
            put = Some(cid_field(&v["Cid"], "/")?);
            Ok(())
        })?;
        put.context("no answer from the daemon to dag/put")
    }

    fn dag_get(&self, path: &str, output_codec: u64, out: &mut dyn Write) -> Result<()> {
        let q = [
            ("arg", path.to_string()),
            ("output-codec", codec_name(output_codec)?.to_string()),
        ];
        let mut resp = self.client().post("dag/get", &q, None)?;
        std::io::copy(&mut resp, out)?;
        out.flush()?;
        resp.finish()
    }

    fn dag_resolve(&self, path: &str) -> Result<(Cid, String)> {
        let v = self
            .client()
            .json("dag/resolve", &[("arg", path.to_string())])?;
        let rem = v["RemPath"].as_str().unwrap_or_default().to_string();
        Ok((cid_field(&v["Cid"], "/")?, rem))
    }

    fn dag_export(&self, root: &str, out: &mut dyn Write) -> Result<()> {
        let mut resp = self
            .client()
            .post("dag/export", &[("arg", root.to_string())], None)?;
        std::io::copy(&mut resp, out)?;
        out.flush()?;
        resp.finish()
    }

    fn dag_import(
        &self,
        cars: &mut (dyn CarSource + Send),
        pin_roots: bool,
    ) -> Result<DagImported> {
        let boundary = random_boundary();
        let (pipe_in, pipe_out) = std::io::pipe().context("creating a pipe")?;
        let q = [
            ("pin-roots", pin_roots.to_string()),
            ("stats", "true".to_string()),
        ];
        let body = RequestBody {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            reader: Box::new(pipe_in),
        };
        std::thread::scope(|s| {
            let writer = s.spawn(|| write_cars(cars, &boundary, pipe_out));
            let answer = (|| {
                let resp = self.client().post("dag/import", &q, Some(body))?;
                let mut done = DagImported {
                    roots: Vec::new(),
                    block_count: 0,
                    block_bytes_count: 0,
                };
                resp.ndjson(&mut |v| {
                    if let Some(r) = v.get("Root") {
                        let msg = r["PinErrorMsg"].as_str().unwrap_or_default();
                        done.roots.push(RootPin {
                            cid: cid_field(&r["Cid"], "/")?,
                            pin_error: (!msg.is_empty()).then(|| msg.to_string()),
                        });
                    } else if let Some(st) = v.get("Stats") {
                        done.block_count = st["BlockCount"].as_u64().unwrap_or(0);
                        done.block_bytes_count = st["BlockBytesCount"].as_u64().unwrap_or(0);
                    }
                    Ok(())
                })?;
                Ok(done)
            })();
            // A CAR that could not be read explains a failed answer.
            writer
                .join()
                .map_err(|_| anyhow::anyhow!("the CAR upload panicked"))??;
            answer
        })
    }

    fn dag_stat(
        &self,
        roots: &[String],
        mut progress: Option<DagStatProgress<'_>>,
    ) -> Result<DagStatSummary> {
        let mut q: Vec<(&str, String)> = roots.iter().map(|r| ("arg", r.clone())).collect();
        q.push(("progress", progress.is_some().to_string()));
        let resp = self.client().post("dag/stat", &q, None)?;
        // Every line but the last is progress; the last is the whole summary.
        let mut last: Option<Value> = None;
        resp.ndjson(&mut |v| {
            if let (Some(prev), Some(p)) = (last.replace(v), progress.as_mut()) {
                p(&parse_dag_stat(&prev)?)?;
            }
            Ok(())
        })?;
        parse_dag_stat(&last.context("no answer from the daemon to dag/stat")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_names_as_kubo_spells_them() {
        assert_eq!(hash_from_name("sha2-256").unwrap(), cids::SHA2_256);
        assert_eq!(
            hash_from_name("md5").unwrap_err().to_string(),
            "unsupported hash \"md5\" (only sha2-256)"
        );
    }

    /// Kubo's JSON (zero fields left out) reads back into the summary it came from.
    #[test]
    fn dag_stat_json_reads_back() {
        let c = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
        let v = json!({"UniqueBlocks": 2, "TotalSize": 10, "SharedSize": 5, "Ratio": 1.5,
                       "DagStats": [{"Cid": c, "Size": 10, "NumBlocks": 2},
                                    {"Cid": c, "NumBlocks": 1}]});
        let s = parse_dag_stat(&v).unwrap();
        assert_eq!((s.unique_blocks, s.total_size, s.shared_size()), (2, 10, 5));
        assert_eq!(s.ratio(), 1.5);
        assert_eq!(
            s.dags[1],
            DagStat {
                cid: cids::parse(c).unwrap(),
                size: 0,
                num_blocks: 1
            }
        );
        assert!(parse_dag_stat(&json!({"DagStats": [{"Cid": "nope"}]})).is_err());
        assert_eq!(
            parse_dag_stat(&json!({})).unwrap(),
            DagStatSummary::default()
        );
    }

    /// Streams, then a file.
    struct Cars {
        streams: Vec<(String, std::io::Cursor<Vec<u8>>)>,
        next: usize,
        file: std::path::PathBuf,
    }

    impl CarSource for Cars {
        fn next_car(&mut self) -> anyhow::Result<Option<Car<'_>>> {
            self.next += 1;
            if self.next == self.streams.len() + 1 {
                return Ok(Some(Car::File(&self.file)));
            }
            Ok(self
                .streams
                .get_mut(self.next - 1)
                .map(|(name, data)| Car::Stream {
                    name: name.clone(),
                    reader: data,
                }))
        }
    }

    /// What `write_cars` sends, the server's multipart reader reads back, names
    /// included; a CAR file that does not open is the error.
    #[test]
    fn cars_upload_as_multipart_parts() {
        use crate::http::multipart::Multipart;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a b%.car");
        std::fs::write(&file, b"file bytes").unwrap();
        let big = vec![7u8; 3 * COPY_BUF_BYTES + 5];
        let mut cars = Cars {
            streams: vec![
                ("stdin".into(), std::io::Cursor::new(big.clone())),
                ("x/y.car".into(), std::io::Cursor::new(Vec::new())),
            ],
            next: 0,
            file: file.clone(),
        };
        let (r, w) = std::io::pipe().unwrap();
        let got = std::thread::scope(|s| {
            let t = s.spawn(|| write_cars(&mut cars, "bnd", w));
            let mut m = Multipart::new(r, "bnd").unwrap();
            let mut got = Vec::new();
            while let Some(p) = m.next_part().unwrap() {
                let mut data = Vec::new();
                m.read_to_end(&mut data).unwrap();
                got.push((p.filename.unwrap(), data));
            }
            t.join().unwrap().unwrap();
            got
        });
        assert_eq!(
            got,
            [
                ("stdin".to_string(), big),
                ("x/y.car".to_string(), Vec::new()),
                (file.display().to_string(), b"file bytes".to_vec()),
            ]
        );

        let mut missing = Cars {
            streams: Vec::new(),
            next: 0,
            file: dir.path().join("nope.car"),
        };
        let (_r, w) = std::io::pipe().unwrap();
        let e = write_cars(&mut missing, "bnd", w).unwrap_err();
        assert!(format!("{e:#}").starts_with("opening "), "{e:#}");
    }

    /// A daemon stand-in answering one request with `body` (a 200 JSON answer);
    /// gives the client for it and the request line it got.
    fn canned_daemon(body: String) -> (tempfile::TempDir, Remote, std::thread::JoinHandle<String>) {
        use std::io::BufRead as _;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let port = l.local_addr().unwrap().port();
        std::fs::write(
            crate::endpoints::api_file(dir.path()),
            format!("/ip4/127.0.0.1/tcp/{port}"),
        )
        .unwrap();
        let server = std::thread::spawn(move || loop {
            let (s, _) = l.accept().unwrap();
            let mut r = std::io::BufReader::new(s);
            let mut first = String::new();
            r.read_line(&mut first).unwrap();
            if first.is_empty() {
                continue; // discover's probe
            }
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let mut s = r.into_inner();
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            return first;
        });
        let client = super::super::client::discover(dir.path())
            .unwrap()
            .expect("the stand-in answers");
        (dir, Remote::new(client), server)
    }

    /// Through a daemon, every `dag/stat` line but the last is progress.
    #[test]
    fn remote_dag_stat_reads_progress_then_the_summary() {
        let c = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
        let line = |extra: &str, size: u64, blocks: u64| {
            format!(
                "{{{extra}\"TotalSize\":{size},\"DagStats\":\
                 [{{\"Cid\":\"{c}\",\"Size\":{size},\"NumBlocks\":{blocks}}}]}}\n"
            )
        };
        let body =
            line("", 4, 1) + &line("", 9, 2) + &line("\"UniqueBlocks\":2,\"Ratio\":1,", 9, 2);
        let (_dir, remote, server) = canned_daemon(body);
        let mut seen = Vec::new();
        let sum = remote
            .dag_stat(
                &[c.to_string()],
                Some(&mut |s: &DagStatSummary| {
                    seen.push((s.total_size, s.dags[0].num_blocks));
                    Ok(())
                }),
            )
            .unwrap();
        assert_eq!(seen, [(4, 1), (9, 2)]);
        assert_eq!(
            (sum.unique_blocks, sum.total_size, sum.ratio()),
            (2, 9, 1.0)
        );
        let request = server.join().unwrap();
        assert!(
            request.starts_with(&format!("POST /api/v0/dag/stat?arg={c}&progress=true ")),
            "{request}"
        );
    }
}

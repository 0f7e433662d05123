//! `dag` commands: import and export of CARs, `stat`, `put` and `get`.

use acorn_storage::{dag, pins};

use super::*;

impl Node {
    /// `dag import`: validates each CAR completely (hashes, framing) before storing
    /// any of it, then stores them in batched transactions and (with `pin_roots`)
    /// pins their roots. Files are read where they are; streams (stdin, upload
    /// parts) are spooled to a temporary file in the repo first.
    pub fn dag_import(
        &self,
        src: &mut dyn CarSource,
        pin_roots: bool,
    ) -> anyhow::Result<DagImport> {
        let mut spools = Vec::new();
        let mut files = Vec::new();
        while let Some(car) = src.next_car()? {
            match car {
                Car::File(p) => files.push((p.to_path_buf(), p.display().to_string())),
                Car::Stream { name, reader } => {
                    let s = self
                        .spool(reader)
                        .with_context(|| format!("reading {name}"))?;
                    files.push((s.0.clone(), name));
                    spools.push(s);
                }
            }
        }
        anyhow::ensure!(!files.is_empty(), "argument \"path\" is required");
        self.import_files(&files, pin_roots)
    }

    /// Copies `r` to a fresh temporary file in the repo, removed when dropped.
    fn spool(&self, r: &mut dyn std::io::Read) -> anyhow::Result<SpoolFile> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .handle
            .root
            .join(format!("import-{}-{n}.car.tmp", std::process::id()));
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let spool = SpoolFile(tmp);
        // The repo's free-space reserve holds for the spool too: checked before
        // every SPOOL_CHECK_BYTES written, so a card never fills up with a CAR.
        let mut buf = vec![0u8; 64 * 1024];
        let mut since_check = SPOOL_CHECK_BYTES;
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if since_check >= SPOOL_CHECK_BYTES {
                self.store().check_space(SPOOL_CHECK_BYTES as u64)?;
                since_check = 0;
            }
            std::io::Write::write_all(&mut f, &buf[..n])?;
            since_check += n;
        }
        Ok(spool)
    }

    /// Imports `files` (each with the name its errors show).
    fn import_files(
        &self,
        files: &[(std::path::PathBuf, String)],
        pin_roots: bool,
    ) -> anyhow::Result<DagImport> {
        let open = |p: &Path| -> anyhow::Result<std::io::BufReader<std::fs::File>> {
            Ok(std::io::BufReader::new(
                std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
            ))
        };
        for (f, name) in files {
            car::import(open(f)?, &mut acorn_storage::block::NullSink)
                .with_context(|| name.clone())?;
        }
        let _guard = self.store().begin_add();
        let mut w = self.store().writer();
        let mut total = car::ImportSummary::default();
        for (f, name) in files {
            let s = car::import(open(f)?, &mut w).with_context(|| name.clone())?;
            total.blocks += s.blocks;
            total.bytes += s.bytes;
            for r in s.roots {
                if !total.roots.contains(&r) {
                    total.roots.push(r);
                }
            }
        }
        w.finish()?;
        let mut pinned = Vec::new();
        if pin_roots {
            for r in &total.roots {
                let res = pins::pin_add(self.store(), r, true).map_err(|e| e.to_string());
                pinned.push((*r, res.err()));
            }
        }
        Ok(DagImport {
            summary: total,
            pinned,
        })
    }

    /// A CARv1 with root `root`: the whole DAG (as `dag export`, but fetching
    /// missing blocks), or with `root_only` the root block alone. Returns the
    /// number of blocks written.
    pub fn car_export(
        &self,
        root: &Cid,
        root_only: bool,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<u64> {
        let src = self.source();
        if root_only {
            let data = src.get_required(root)?;
            let mut w = car::CarWriter::new(out, std::slice::from_ref(root))?;
            w.write_block(root, &data)?;
            w.finish()?;
            return Ok(1);
        }
        Ok(car::export_dag(&src, root, out)?)
    }

    /// `dag stat`: sizes and block counts of the DAGs under `roots` (each block
    /// read, fetched when missing while the daemon runs). `progress` sees the
    /// summary so far after each block (Kubo's `--progress`, its default).
    pub fn dag_stat(
        &self,
        roots: &[Cid],
        progress: &mut dyn FnMut(&DagStatSummary) -> anyhow::Result<()>,
    ) -> anyhow::Result<DagStatSummary> {
        let src = self.source();
        let mut all = dag::MemSeen::new();
        let mut sum = DagStatSummary::default();
        for root in roots {
            sum.dags.push(DagStat {
                cid: *root,
                size: 0,
                num_blocks: 0,
            });
            let mut seen = dag::MemSeen::new();
            dag::walk(&src, root, Some(&mut seen), &mut |cid: &Cid,
                                                         bytes: &[u8]|
             -> anyhow::Result<
                dag::Walk,
            > {
                let len = bytes.len() as u64;
                if let Some(d) = sum.dags.last_mut() {
                    d.size += len;
                    d.num_blocks += 1;
                }
                if dag::SeenSet::insert(&mut all, cid)? {
                    sum.total_size += len;
                    sum.unique_blocks += 1;
                }
                sum.redundant_size += len;
                progress(&sum)?;
                Ok(dag::Walk::Continue)
            })?;
        }
        Ok(sum)
    }
}

/// Largest `dag put` input we read, in bytes: a JSON form may be several times
/// larger than the block it encodes to (which must still fit MAX_BLOCK_BYTES).
pub const MAX_DAG_INPUT_BYTES: usize = 4 * acorn_storage::block::MAX_BLOCK_BYTES;

/// Deepest IPLD path `dag get` follows, in segments.
pub const MAX_DAG_PATH_SEGMENTS: usize = 256;

impl Node {
    /// `dag put`: decodes `input` with `input_codec`, re-encodes it with `store_codec`
    /// and stores the block (CIDv1, sha2-256, as Kubo). Over
    /// [`SOFT_BLOCK_LIMIT_BYTES`] only with `allow_big_block`.
    pub fn dag_put(
        &self,
        input: &[u8],
        input_codec: u64,
        store_codec: u64,
        pin: bool,
        allow_big_block: bool,
    ) -> anyhow::Result<Cid> {
        let value = codec::decode(input_codec, input)
            .with_context(|| format!("input is not valid {}", codec_label(input_codec)))?;
        let bytes = codec::encode(store_codec, &value)
            .with_context(|| format!("cannot store as {}", codec_label(store_codec)))?;
        check_block_size(bytes.len(), allow_big_block)?;
        let limit = acorn_storage::block::MAX_BLOCK_BYTES;
        anyhow::ensure!(
            bytes.len() <= limit,
            "encoded block is {} bytes, over the {limit}-byte limit",
            bytes.len()
        );
        let block = Block::encode(1, store_codec, bytes);
        let _guard = self.store().begin_add();
        self.store().put_block(&block)?;
        if pin {
            pins::pin_add(self.store(), block.cid(), true)?;
        }
        Ok(*block.cid())
    }

    /// `dag get <cid>[/path]`: the node, or the value at an IPLD path inside it
    /// (map keys, list indexes; links are followed).
    pub fn dag_get(&self, arg: &str) -> anyhow::Result<Ipld> {
        let s = arg.strip_prefix("/ipfs/").unwrap_or(arg);
        let (c, rest) = s.split_once('/').unwrap_or((s, ""));
        let mut cid = cids::parse(c)?;
        let mut value = self.load_ipld(&cid)?;
        let segments: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        anyhow::ensure!(
            segments.len() <= MAX_DAG_PATH_SEGMENTS,
            "path has over {MAX_DAG_PATH_SEGMENTS} segments"
        );
        for seg in segments {
            if let Ipld::Link(l) = value {
                cid = l;
                value = self.load_ipld(&cid)?;
            }
            value = match value {
                Ipld::Map(mut m) => m.remove(seg),
                Ipld::List(mut l) => seg
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < l.len())
                    .map(|i| l.swap_remove(i)),
                _ => None,
            }
            .ok_or_else(|| anyhow::anyhow!("no link named {seg:?} under {cid}"))?;
        }
        if let Ipld::Link(l) = value {
            value = self.load_ipld(&l)?;
        }
        Ok(value)
    }

    fn load_ipld(&self, cid: &Cid) -> anyhow::Result<Ipld> {
        let bytes = self.store().get_required(cid)?;
        codec::decode(cid.codec(), &bytes).with_context(|| format!("decoding {cid}"))
    }
}

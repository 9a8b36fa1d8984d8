//! Durable storage of the [`State`]: a snapshot (`state.json`) plus an append-only journal
//! (`state.journal`) of what changed since.
//!
//! A checkpoint appends one line to the journal (the changes and tasks touched since the
//! previous checkpoint, and the data bag, warnings and counters when they changed) and
//! syncs it, so its cost follows the size of the change, not of the state. When the
//! journal outgrows the snapshot (or on open and on a clean stop) the store compacts: it
//! writes a whole new snapshot atomically and starts an empty journal.
//!
//! Crash safety: the snapshot records the generation of the journal that continues it
//! (`journal-generation`) and the journal's first line names its generation. A journal
//! of another generation (a crash between writing a snapshot and starting its journal)
//! is ignored; a torn last line (a crash during an append that was never acknowledged)
//! is dropped. Anything else that cannot be read is corruption: the state is loaded up to
//! the last good record, the journal is kept aside as `state.journal.corrupt`, and a
//! warning and a log line say what was lost.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::Utc;
use tracing::{debug, error, warn};

use super::checkpoint::write_atomic;
use super::{State, StateError};

/// The journal may grow to this size, or to the snapshot's size if larger, before the
/// store compacts.
const MIN_COMPACT_BYTES: u64 = 1 << 20;

/// The journal's first line.
#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    generation: u64,
}

/// Snapshot and journal files of one state directory, and what the store last wrote.
#[derive(Debug)]
pub struct Store {
    snapshot_path: PathBuf,
    journal_path: PathBuf,
    /// The journal, open for appending; `None` after a failed append (the next checkpoint
    /// compacts instead).
    journal: Option<File>,
    generation: u64,
    journal_len: u64,
    snapshot_len: u64,
    /// The head members as last recorded.
    head: Vec<u8>,
    buf: Vec<u8>,
    scratch: Vec<u8>,
}

impl Store {
    /// Loads the state of `dir` (empty if there is none), replays the journal, applies
    /// migrations and compacts, so the returned store starts with a fresh journal.
    pub fn open(dir: &Path) -> Result<(Store, State), StateError> {
        let snapshot_path = dir.join("state.json");
        let journal_path = dir.join("state.journal");
        let (mut st, generation) = match std::fs::read(&snapshot_path) {
            Ok(bytes) => State::parse_snapshot(&bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => (State::new(), 0),
            Err(source) => return Err(StateError::Read { path: snapshot_path, source }),
        };
        match std::fs::read(&journal_path) {
            Ok(bytes) => {
                if let Err(corrupt) = replay(&mut st, generation, &bytes) {
                    report_corruption(&mut st, &journal_path, &corrupt);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(StateError::Read { path: journal_path, source }),
        }
        st.migrate()?;
        let mut store = Store {
            snapshot_path,
            journal_path,
            journal: None,
            generation,
            journal_len: 0,
            snapshot_len: 0,
            head: Vec::new(),
            buf: Vec::new(),
            scratch: Vec::new(),
        };
        store.compact(&mut st)?;
        Ok((store, st))
    }

    /// The snapshot file (`state.json`).
    pub fn path(&self) -> &Path {
        &self.snapshot_path
    }

    /// Makes everything changed in `st` since the last checkpoint durable: a journal
    /// append, or a compaction when the journal is due for one. Nothing is written when
    /// nothing changed. On failure the changes stay pending for the next checkpoint.
    pub fn checkpoint(&mut self, st: &mut State) -> Result<(), StateError> {
        let limit = self.snapshot_len.max(MIN_COMPACT_BYTES);
        let Some(journal) = self.journal.as_mut().filter(|_| self.journal_len <= limit) else {
            return self.compact(st);
        };
        self.scratch.clear();
        st.write_head_members(&mut self.scratch);
        let head_changed = self.scratch != self.head;
        if !head_changed && !st.has_pending() {
            return Ok(());
        }
        st.write_record(&mut self.buf, head_changed.then_some(&self.scratch[..]));
        let appended = journal.write_all(&self.buf).and_then(|()| journal.sync_data());
        if let Err(source) = appended {
            // The journal may end in a partial line now: never append after it.
            self.journal = None;
            return Err(StateError::Write { path: self.journal_path.clone(), source });
        }
        self.journal_len += self.buf.len() as u64;
        std::mem::swap(&mut self.head, &mut self.scratch);
        st.clear_pending();
        Ok(())
    }

    /// Makes the next append fail the way a full disk does (fault injection and tests).
    pub(crate) fn fill_disk(&mut self) -> io::Result<()> {
        self.journal = Some(OpenOptions::new().append(true).open("/dev/full")?);
        Ok(())
    }

    /// Writes a whole snapshot of `st` and starts a new, empty journal.
    pub fn compact(&mut self, st: &mut State) -> Result<(), StateError> {
        let generation = self.generation + 1;
        st.write_snapshot(&mut self.buf, Some(generation));
        write_atomic(&self.snapshot_path, &self.buf)
            .map_err(|source| StateError::Write { path: self.snapshot_path.clone(), source })?;
        self.snapshot_len = self.buf.len() as u64;
        self.generation = generation;
        // From here the old journal no longer matches the snapshot and is ignored.
        self.journal = None;
        let journal_error = |source| StateError::Write { path: self.journal_path.clone(), source };
        let mut header =
            serde_json::to_vec(&Header { generation }).map_err(io::Error::other).map_err(journal_error)?;
        header.push(b'\n');
        write_atomic(&self.journal_path, &header).map_err(journal_error)?;
        let journal = OpenOptions::new().append(true).open(&self.journal_path).map_err(journal_error)?;
        self.journal = Some(journal);
        self.journal_len = header.len() as u64;
        self.head.clear();
        st.write_head_members(&mut self.head);
        st.clear_pending();
        debug!(bytes = self.snapshot_len, generation, "compacted state");
        Ok(())
    }
}

/// Where a journal stops making sense.
#[derive(Debug)]
struct Corrupt {
    /// The first record not applied (1 is the one after the header; 0 is the header).
    record: usize,
    reason: String,
}

/// Applies the records of `journal` that continue the snapshot of `generation`, up to the
/// first one that cannot be applied (other than a torn last line).
fn replay(st: &mut State, generation: u64, journal: &[u8]) -> Result<(), Corrupt> {
    let mut lines = journal.split_inclusive(|&b| b == b'\n');
    let header = lines.next().map(serde_json::from_slice::<Header>);
    match header {
        Some(Ok(Header { generation: g })) if g == generation => {}
        Some(Ok(Header { generation: g })) => {
            debug!(journal = g, snapshot = generation, "ignoring the journal of another snapshot");
            return Ok(());
        }
        Some(Err(e)) => return Err(Corrupt { record: 0, reason: e.to_string() }),
        None => return Ok(()),
    }
    let mut applied = 0usize;
    for line in lines {
        // A line without its newline was being appended when the daemon stopped: that
        // checkpoint never completed.
        if !line.ends_with(b"\n") {
            warn!(applied, "dropping a torn record at the end of the state journal");
            break;
        }
        st.apply_record(line).map_err(|e| Corrupt { record: applied + 1, reason: e.to_string() })?;
        applied += 1;
    }
    debug!(applied, "replayed state journal");
    Ok(())
}

/// Keeps a corrupt journal aside and says what was lost, in the log and in a warning.
fn report_corruption(st: &mut State, journal: &Path, corrupt: &Corrupt) {
    let mut kept = journal.as_os_str().to_owned();
    kept.push(".corrupt");
    let kept = PathBuf::from(kept);
    let aside = match std::fs::rename(journal, &kept) {
        Ok(()) => format!("; it is kept as {}", kept.display()),
        Err(e) => {
            error!(path = %journal.display(), error = %e, "cannot keep the corrupt state journal aside");
            String::new()
        }
    };
    let what = match corrupt.record {
        0 => "its header".to_string(),
        n => format!("record {n}"),
    };
    error!(
        path = %journal.display(),
        record = corrupt.record,
        error = %corrupt.reason,
        "the state journal is corrupt: starting from the last good state, later changes are lost"
    );
    st.warn(
        None,
        &format!(
            "cannot read the state journal at {what} ({}): workshopd started from the state saved before it, and changes saved after it are lost{aside}",
            corrupt.reason
        ),
        Utc::now(),
    );
}

/// Writes `bytes` and syncs them; used by tests to tear a journal.
#[cfg(test)]
fn append(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
    f.sync_all().unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Status;
    use crate::state::tests::fresh_json;
    use chrono::{TimeZone, Utc};

    fn at(s: i64) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(s)
    }

    fn reopen(dir: &Path) -> State {
        Store::open(dir).unwrap().1
    }

    fn journal_lines(dir: &Path) -> usize {
        std::fs::read(dir.join("state.journal"))
            .unwrap()
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    }

    #[test]
    fn checkpoints_append_and_reopen_replays_them() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut st) = Store::open(dir.path()).unwrap();
        assert_eq!(journal_lines(dir.path()), 1, "a fresh journal has only its header");

        let chg = st.new_change("launch", "Launch", at(0));
        let t1 = st.new_task("create-workshop", "Create", at(0));
        st.add_task(&chg, &t1);
        store.checkpoint(&mut st).unwrap();
        st.task_mut(&t1).unwrap().set("workshop", "ws");
        st.set_task_status(&t1, Status::Doing, at(1));
        store.checkpoint(&mut st).unwrap();
        st.set("projects", serde_json::json!({"p": 1}));
        st.warn(Some(1000), "something happened", at(2));
        store.checkpoint(&mut st).unwrap();
        // Nothing changed: nothing is appended.
        store.checkpoint(&mut st).unwrap();
        assert_eq!(journal_lines(dir.path()), 4);

        let back = reopen(dir.path());
        assert_eq!(back.to_json(), fresh_json(&st));
        assert_eq!(back.task(&t1).unwrap().get::<String>("workshop").as_deref(), Some("ws"));
        assert_eq!(back.all_warnings(1000).len(), 1);
        // Opening compacted: the snapshot alone holds everything now.
        assert_eq!(journal_lines(dir.path()), 1);
        assert_eq!(
            State::from_json(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap().to_json(),
            fresh_json(&st)
        );
    }

    #[test]
    fn removals_are_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut st) = Store::open(dir.path()).unwrap();
        let chg = st.new_change("exec", "Exec", at(0));
        let t = st.new_task("exec", "Exec", at(0));
        st.add_task(&chg, &t);
        st.set_task_status(&t, Status::Done, at(1));
        store.checkpoint(&mut st).unwrap();
        let pruned = st.prune(at(0) + chrono::Duration::days(30));
        assert_eq!(pruned.removed_changes, 1);
        store.checkpoint(&mut st).unwrap();
        let back = reopen(dir.path());
        assert!(back.change(&chg).is_none());
        assert!(back.task(&t).is_none());
        assert_eq!(back.to_json(), fresh_json(&st));
    }

    #[test]
    fn a_torn_last_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut st) = Store::open(dir.path()).unwrap();
        let chg = st.new_change("launch", "Launch", at(0));
        store.checkpoint(&mut st).unwrap();
        let expected = fresh_json(&st);
        drop(store);
        append(&dir.path().join("state.journal"), b"{\"changes\":{\"9\":{\"id\":\"9\"");
        let back = reopen(dir.path());
        assert_eq!(back.to_json(), expected);
        assert!(back.change(&chg).is_some());
        assert!(back.all_warnings(0).is_empty(), "a torn last record is no corruption");
        assert!(!dir.path().join("state.journal.corrupt").exists());
        // The reopened store starts a clean journal: later appends are readable again.
        let (mut store, mut st) = Store::open(dir.path()).unwrap();
        st.change_mut(&chg).unwrap().set("attempt", 2);
        store.checkpoint(&mut st).unwrap();
        assert_eq!(reopen(dir.path()).change(&chg).unwrap().get::<u64>("attempt"), Some(2));
    }

    #[test]
    fn a_corrupt_record_is_reported_and_the_last_good_state_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut st) = Store::open(dir.path()).unwrap();
        let first = st.new_change("launch", "Launch", at(0));
        store.checkpoint(&mut st).unwrap();
        let good = fresh_json(&st);
        st.change_mut(&first).unwrap().set("attempt", 2);
        store.checkpoint(&mut st).unwrap();
        st.new_change("launch", "Launch again", at(1));
        store.checkpoint(&mut st).unwrap();
        drop(store);
        // A flipped byte in the second record of three.
        let path = dir.path().join("state.journal");
        let mut journal = std::fs::read(&path).unwrap();
        let second = journal.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(1).unwrap().0 + 1;
        journal[second] = b'#';
        std::fs::write(&path, &journal).unwrap();

        let mut back = reopen(dir.path());
        // Daemon-wide: every user sees it.
        let warnings: Vec<String> = back.all_warnings(1000).iter().map(|w| w.message().to_string()).collect();
        let [warning] = warnings.as_slice() else { panic!("{warnings:?}") };
        assert!(
            warning.starts_with(
                "cannot read the state journal at record 2 (expected value at line 1 column 1): "
            ),
            "{warning}"
        );
        assert!(warning.contains("changes saved after it are lost"), "{warning}");
        assert!(warning.ends_with(&format!("kept as {}.corrupt", path.display())), "{warning}");
        assert_eq!(std::fs::read(dir.path().join("state.journal.corrupt")).unwrap(), journal);
        back.remove_warning(None, warning);
        assert_eq!(back.to_json(), good, "loaded up to the last good record");
        // The warning is saved with the state, and the new journal is clean.
        assert_eq!(reopen(dir.path()).all_warnings(0).len(), 1);
    }

    #[test]
    fn a_corrupt_header_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut st) = Store::open(dir.path()).unwrap();
        st.new_change("launch", "Launch", at(0));
        store.compact(&mut st).unwrap();
        let expected = fresh_json(&st);
        drop(store);
        std::fs::write(dir.path().join("state.journal"), b"{\"generation\":x}\n").unwrap();
        let mut back = reopen(dir.path());
        let warning = back.all_warnings(0)[0].message().to_string();
        assert!(warning.starts_with("cannot read the state journal at its header ("), "{warning}");
        back.remove_warning(None, &warning);
        assert_eq!(back.to_json(), expected);
    }

    #[test]
    fn a_journal_of_another_generation_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut st) = Store::open(dir.path()).unwrap();
        st.new_change("launch", "Launch", at(0));
        store.checkpoint(&mut st).unwrap();
        let stale_journal = std::fs::read(dir.path().join("state.journal")).unwrap();
        // A later compaction writes a snapshot with the next generation; a crash before
        // its journal is started leaves the old journal behind.
        st.new_change("launch", "Launch again", at(1));
        store.compact(&mut st).unwrap();
        let expected = fresh_json(&st);
        std::fs::write(dir.path().join("state.journal"), stale_journal).unwrap();
        assert_eq!(reopen(dir.path()).to_json(), expected);
    }

    #[test]
    fn a_failed_append_keeps_changes_pending_and_compacts_next() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut st) = Store::open(dir.path()).unwrap();
        store.fill_disk().unwrap();
        let chg = st.new_change("launch", "Launch", at(0));
        let err = store.checkpoint(&mut st).unwrap_err().to_string();
        assert!(err.ends_with("state.journal: No space left on device (os error 28)"), "{err}");
        assert!(store.journal.is_none());
        store.checkpoint(&mut st).unwrap();
        assert_eq!(journal_lines(dir.path()), 1, "the retry compacted");
        assert!(reopen(dir.path()).change(&chg).is_some());
    }

    #[test]
    fn the_journal_is_compacted_when_it_outgrows_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut st) = Store::open(dir.path()).unwrap();
        let chg = st.new_change("launch", "Launch", at(0));
        let big = "x".repeat(64 * 1024);
        for i in 0..40 {
            st.change_mut(&chg).unwrap().set("blob", format!("{big}{i}"));
            store.checkpoint(&mut st).unwrap();
        }
        assert!(store.journal_len <= MIN_COMPACT_BYTES + 70 * 1024, "journal {} bytes", store.journal_len);
        assert!(journal_lines(dir.path()) < 40);
        assert_eq!(reopen(dir.path()).to_json(), fresh_json(&st));
    }

    #[test]
    fn newer_states_are_refused_after_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, mut st) = Store::open(dir.path()).unwrap();
        st.set("patch-level", 99);
        store.checkpoint(&mut st).unwrap();
        assert!(matches!(Store::open(dir.path()), Err(StateError::TooNew { level: 99 })));
    }
}

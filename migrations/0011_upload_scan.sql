-- A JSONL batch input is checked as it is uploaded (README, "Batch mode"): what an upload's lines name so far, and the
-- bytes of its unfinished last line (at most 1 MiB), carried from one resumable chunk to the next. NULL scan: a
-- session started before this column existed (its file cannot be a batch's input).
ALTER TABLE uploads ADD COLUMN scan TEXT;
ALTER TABLE uploads ADD COLUMN carry BLOB;

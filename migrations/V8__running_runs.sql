-- Every command that opens a workspace looks for runs left `running` by a process that died
-- (src/workspace/mod.rs, recover_interrupted). Without this index that read every pipeline
-- run ever made; evolutions have had the same index since migration 1.
CREATE INDEX runs_running ON pipeline_runs (status) WHERE status = 'running';

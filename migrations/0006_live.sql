-- Live API sessions (one usage row each): the close code the session ended with, who closed it, and its tokens by
-- modality as JSON ({"input":{"AUDIO":n,...},"output":{...},"cached":{...},"tool_use":{...}}). NULL on other rows.
ALTER TABLE usage ADD COLUMN close_code INTEGER;
ALTER TABLE usage ADD COLUMN closed_by TEXT CHECK (closed_by IN ('client', 'upstream', 'gateway'));
ALTER TABLE usage ADD COLUMN modality_tokens TEXT;

-- Tool-use prompt tokens (Gemini's toolUsePromptTokenCount: billed as input), shown apart on the row.
ALTER TABLE usage ADD COLUMN tool_use_tokens INTEGER NOT NULL DEFAULT 0;

-- Stored messages keep only the fields of a Cloud API message: a token or appsecret_proof sent
-- with the message (and any other key) is removed from the messages already stored.
UPDATE messages SET body = jsonb_set(body::jsonb, '{body}', COALESCE((
    SELECT jsonb_object_agg(key, value) FROM jsonb_each(body::jsonb -> 'body')
    WHERE key IN ('messaging_product', 'recipient_type', 'to', 'type', 'context', 'biz_opaque_callback_data',
    'audio', 'contacts', 'document', 'image', 'interactive', 'location', 'reaction', 'sticker', 'template',
    'text', 'video')), '{}'::jsonb))::text
WHERE jsonb_typeof(body::jsonb -> 'body') = 'object';
-- Messages are pruned by age (--message-retention).
CREATE INDEX IF NOT EXISTS messages_by_created_time ON messages (created_time);

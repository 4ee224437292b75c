-- Stored messages keep only the fields of a Cloud API message: a token or appsecret_proof sent
-- with the message (and any other key) is removed from the messages already stored.
UPDATE messages SET body = json_set(body, '$.body', json((
    SELECT json_group_object(key, CASE type
        WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') WHEN 'null' THEN json('null')
        WHEN 'object' THEN json(value) WHEN 'array' THEN json(value) ELSE value END)
    FROM json_each(messages.body, '$.body')
    WHERE key IN ('messaging_product', 'recipient_type', 'to', 'type', 'context', 'biz_opaque_callback_data',
    'audio', 'contacts', 'document', 'image', 'interactive', 'location', 'reaction', 'sticker', 'template',
    'text', 'video'))))
WHERE json_valid(body) AND json_type(body, '$.body') = 'object';
-- Messages are pruned by age (--message-retention).
CREATE INDEX IF NOT EXISTS messages_by_created_time ON messages (created_time);

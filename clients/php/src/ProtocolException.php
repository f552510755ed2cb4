<?php

declare(strict_types=1);

namespace Solar\Client;

/**
 * What came back is not a valid reply: an implausible frame length, bytes that
 * follow the last reply, or (KvClient) a payload that is not a KvResponse or one
 * that answers another request. The connection is closed: its framing can no
 * longer be trusted.
 */
class ProtocolException extends SolarException
{
}

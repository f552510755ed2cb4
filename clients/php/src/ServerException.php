<?php

declare(strict_types=1);

namespace Solar\Client;

/**
 * The server answered this request with an error instead of a reply: over
 * frame32, a frame whose length word has bit 31 set (the worker threw while
 * processing it, called Response::error(), or made a reply over
 * max_frame_bytes); getMessage() is the server's UTF-8 text, at most 64 KiB.
 * The request was handled, the connection stays open and in step: the next
 * call, pipelined ones included, may go ahead.
 *
 * KvException, a subclass, is a KvResponse with a status other than OK.
 */
class ServerException extends SolarException
{
}

<?php

declare(strict_types=1);

namespace Solar\Client;

/**
 * Base of every exception this library throws, so that one catch covers them all.
 *
 * The subclasses say what is known about the request:
 *  - ConnectException: no connection, the request was not sent: safe to retry.
 *  - TimeoutException: no reply in time; the request may or may not have run.
 *  - ConnectionClosedException: the connection broke before the whole reply came;
 *    the request may or may not have run.
 *  - ProtocolException: the bytes that came back are not a valid reply.
 *  - ServerException: the server answered with an error; the connection is fine.
 */
class SolarException extends \RuntimeException
{
}

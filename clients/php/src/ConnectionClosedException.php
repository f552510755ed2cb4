<?php

declare(strict_types=1);

namespace Solar\Client;

/**
 * The server closed or reset the connection before the whole reply arrived
 * (a server restart, a crashed worker, a request the server refused by closing).
 * The request may or may not have run. Connection retries by itself only in the
 * one safe-looking case, a reused connection that broke before any reply byte;
 * this exception means that case did not apply or the retry broke too.
 */
class ConnectionClosedException extends SolarException
{
}

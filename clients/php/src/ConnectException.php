<?php

declare(strict_types=1);

namespace Solar\Client;

/**
 * The connection could not be opened (refused, unreachable, connect timeout) or,
 * over UDP, the port answered "unreachable". Nothing was sent: retrying is safe.
 * getCode() is the errno when one is known.
 */
class ConnectException extends SolarException
{
}

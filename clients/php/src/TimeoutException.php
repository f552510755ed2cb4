<?php

declare(strict_types=1);

namespace Solar\Client;

/**
 * No (complete) reply within the call's timeout. The request may still run on
 * the server: a TCP connection is closed after this (a late reply would
 * otherwise answer the next call), and it is never retried automatically.
 */
class TimeoutException extends SolarException
{
}

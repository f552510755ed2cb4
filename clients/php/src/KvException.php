<?php

declare(strict_types=1);

namespace Solar\Client;

use Solar\Kv\Status;

/**
 * A KvResponse whose status is not OK (and, for get and delete, not NOT_FOUND,
 * which those methods return as null and false): INVALID_ARGUMENT, TOO_LARGE,
 * UNAVAILABLE, INTERNAL. The message is "STATUS: the server's error text", as
 * solar-cli prints it. The connection stays usable.
 */
final class KvException extends ServerException
{
    public function __construct(
        private readonly int $status,
        private readonly string $serverError,
    ) {
        parent::__construct(self::nameOf($status) . ($serverError !== '' ? ": $serverError" : ''), $status);
    }

    /** A Solar\Kv\Status value. */
    public function status(): int
    {
        return $this->status;
    }

    public function statusName(): string
    {
        return self::nameOf($this->status);
    }

    /** The server's `error` text, "" when it sent none. */
    public function serverError(): string
    {
        return $this->serverError;
    }

    /** UNAVAILABLE: nothing was applied and the same request may be sent again later. */
    public function isRetryable(): bool
    {
        return $this->status === Status::UNAVAILABLE;
    }

    public static function nameOf(int $status): string
    {
        try {
            return Status::name($status);
        } catch (\UnexpectedValueException) {
            return "STATUS_$status";  // a status newer than the generated classes
        }
    }
}

<?php

declare(strict_types=1);

namespace Solar\Client\Tests;

use Solar\Client\Connection;
use Solar\Client\ConnectionClosedException;

/**
 * A real solar with error_replies: false (for clients that predate error frames):
 * a worker that throws makes the server close the connection. The client must
 * report that, and must not resend the request (it ran).
 */
final class ErrorRepliesOffTest
{
    public function testThrowClosesTheConnectionAndIsNotResent(): void
    {
        $server = SolarServer::start("workers: 1\nworker { name: \"builtin:debug\" }\nerror_replies: false");
        $conn = new Connection($server->address());
        Assert::same('warm', $conn->call('warm'));
        $e = Assert::throws(ConnectionClosedException::class, fn () => $conn->call('throw'), 'a throw with error_replies off');
        Assert::true(str_contains($e->getMessage(), 'not resent'), 'the message says it was not resent: ' . $e->getMessage());
        Assert::same(0, $conn->reconnectCount(), 'reconnects');
        Assert::same('after', $conn->call('after'), 'the next call, on a new connection');
        // The server's own count: the throw ran once (a resend would make it 2).
        $server->stop();
        Assert::true(preg_match('/totals for workers since their last start: requests=(\d+) .*errors=(\d+)/', $server->log(), $m) === 1,
            "the server's totals line is in its log");
        Assert::same(['3', '1'], [$m[1], $m[2]], 'requests and errors the workers counted');
    }
}

<?php

declare(strict_types=1);

namespace Solar\Client\Tests;

use Solar\Client\Connection;
use Solar\Client\ConnectionClosedException;
use Solar\Client\ConnectException;
use Solar\Client\ProtocolException;
use Solar\Client\ServerException;
use Solar\Client\TimeoutException;

/**
 * The client's frame32 reading and its retry rules, against tests/fake_server.php,
 * which can break a connection at exactly the point each rule is about.
 */
final class FramingTest
{
    public function testErrorReplyIsServerExceptionAndTheConnectionStaysInStep(): void
    {
        $fake = new FakeServer('echo');
        $conn = new Connection($fake->address());
        Assert::same('a', $conn->call('a'));
        $e = Assert::throws(ServerException::class, fn () => $conn->call('throw'));
        Assert::same('asked to throw', $e->getMessage(), 'the error reply\'s text');
        Assert::same('b', $conn->call('b'), 'the call after the error reply');
        Assert::same(0, $conn->reconnectCount(), 'reconnects');
        Assert::same(1, $fake->accepted(), 'connections the server saw');
    }

    public function testErrorReplyInAPipelineHoldsItsPlace(): void
    {
        $fake = new FakeServer('echo');
        $conn = new Connection($fake->address());
        $replies = $conn->callMany(['x' => 'one', 'y' => 'throw', 'z' => 'three']);
        Assert::same(['x', 'y', 'z'], array_keys($replies), 'reply keys');
        Assert::same('one', $replies['x']);
        Assert::true($replies['y'] instanceof ServerException, 'the error reply is a ServerException in its place');
        Assert::same('three', $replies['z']);
        Assert::same('after', $conn->call('after'));
    }

    public function testErrorReplyCutIntoSingleBytesIsStillOneErrorReply(): void
    {
        $fake = new FakeServer('echo');
        $conn = new Connection($fake->address());
        $replies = $conn->callMany(['trickle', 'trickle-error', 'whole', 'trickle-error', 'trickle']);
        Assert::same('trickle', $replies[0], 'a reply read one byte at a time');
        Assert::true($replies[1] instanceof ServerException && $replies[1]->getMessage() === 'trickled',
            'an error reply read one byte at a time, got ' . get_debug_type($replies[1]));
        Assert::same('whole', $replies[2]);
        Assert::true($replies[3] instanceof ServerException, 'the second error reply');
        Assert::same('trickle', $replies[4]);
        Assert::same('after', $conn->call('after'));
        Assert::same(1, $fake->accepted(), 'connections the server saw');
    }

    public function testErrorReplyOver64KiBIsProtocolException(): void
    {
        // solar cuts error messages to 64 KiB: a longer one means the stream is out of step.
        $fake = new FakeServer('echo');
        $conn = new Connection($fake->address());
        $e = Assert::throws(ProtocolException::class, fn () => $conn->call('huge-error'));
        Assert::true(str_contains($e->getMessage(), '70000'), 'the message names the length: ' . $e->getMessage());
        Assert::true(!$conn->isConnected(), 'the connection is closed');
        Assert::same('ok', $conn->call('ok'), 'the next call, on a new connection');
    }

    public function testIdleConnectionClosedByTheServerIsReplacedBeforeSending(): void
    {
        // The server closes the connection after the first reply (a restart, idle_timeout_ms):
        // the client notices before sending, so even a request that must not run twice goes
        // out, once, on a new connection.
        $fake = new FakeServer('close-after-first');
        $conn = new Connection($fake->address());
        Assert::same('first', $conn->call('first'));
        Assert::same(1, $fake->accepted(0.2), 'connections the server saw');  // and time for its FIN to arrive
        Assert::same('second', $conn->call('second'), 'a non-idempotent call after the close');
        Assert::same(1, $conn->reconnectCount(), 'reconnects');
        Assert::same(2, $fake->accepted(), 'connections the server saw');
    }

    public function testSentRequestIsNotResentUnlessIdempotent(): void
    {
        // The server reads the second request and closes without a reply: it may have
        // run it. A plain call is not resent.
        $fake = new FakeServer('break-second');
        $conn = new Connection($fake->address());
        Assert::same('first', $conn->call('first'));
        $e = Assert::throws(ConnectionClosedException::class, fn () => $conn->call('second'));
        Assert::true(str_contains($e->getMessage(), 'not resent'), 'the message says why: ' . $e->getMessage());
        Assert::same(0, $conn->reconnectCount(), 'reconnects');
        Assert::same(1, $fake->accepted(), 'connections the server saw');
        Assert::same('third', $conn->call('third'), 'the next call, on a new connection');
    }

    public function testIdempotentCallOnAReusedConnectionClosedBeforeAnyReplyByteIsRetriedOnce(): void
    {
        $fake = new FakeServer('break-second');
        $conn = new Connection($fake->address());
        Assert::same('first', $conn->call('first'));
        Assert::same('second', $conn->call('second', idempotent: true), 'the retried call');
        Assert::same(1, $conn->reconnectCount(), 'reconnects');
        Assert::same(2, $fake->accepted(), 'connections the server saw');
    }

    public function testIdempotentPipelineOnAReusedConnectionResetIsRetriedOnce(): void
    {
        $fake = new FakeServer('reset-second');
        $conn = new Connection($fake->address());
        Assert::same('first', $conn->call('first'));
        Assert::same(['a', 'b'], $conn->callMany(['a', 'b'], idempotent: true), 'the retried pipeline');
        Assert::same(1, $conn->reconnectCount(), 'reconnects');
        Assert::same(2, $fake->accepted(), 'connections the server saw');
    }

    public function testFreshConnectionThatBreaksIsNotRetried(): void
    {
        $fake = new FakeServer('close-first');
        $conn = new Connection($fake->address());
        Assert::throws(ConnectionClosedException::class, fn () => $conn->call('first', idempotent: true));
        Assert::same(0, $conn->reconnectCount(), 'reconnects');
        Assert::same(1, $fake->accepted(), 'connections the server saw');
        Assert::true(!$conn->isConnected(), 'the broken connection is closed');
    }

    public function testPartialReplyIsNotRetried(): void
    {
        $fake = new FakeServer('partial-second');
        $conn = new Connection($fake->address());
        Assert::same('first', $conn->call('first'));
        Assert::throws(ConnectionClosedException::class, fn () => $conn->call('second', idempotent: true));
        Assert::same(1, $fake->accepted(), 'connections the server saw');
    }

    public function testTimeoutIsNotRetried(): void
    {
        $fake = new FakeServer('silent-second');
        $conn = new Connection($fake->address(), timeout: 0.3);
        Assert::same('first', $conn->call('first'));
        $seconds = timed(fn () => $conn->call('second', idempotent: true), $result);
        Assert::true($result instanceof TimeoutException, 'expected a TimeoutException, got ' . get_debug_type($result));
        Assert::between(0.25, 1.0, $seconds, 'seconds until the TimeoutException');
        Assert::same(1, $fake->accepted(), 'connections the server saw');
        Assert::true(!$conn->isConnected(), 'a timed-out connection is closed');
    }

    public function testRetryHappensOnlyOnce(): void
    {
        $fake = new FakeServer('break-always-after-first');
        $conn = new Connection($fake->address());
        Assert::same('first', $conn->call('first'));
        Assert::throws(ConnectionClosedException::class, fn () => $conn->call('second', idempotent: true));
        Assert::same(2, $fake->accepted(), 'connections the server saw');
    }

    public function testImplausibleLengthIsProtocolException(): void
    {
        $fake = new FakeServer('echo');
        $conn = new Connection($fake->address(), maxReplyBytes: 1 << 20);
        Assert::throws(ProtocolException::class, fn () => $conn->call('huge'));
        Assert::true(!$conn->isConnected(), 'the connection is closed');
    }

    public function testBytesAfterTheLastReplyAreProtocolException(): void
    {
        $fake = new FakeServer('echo');
        $conn = new Connection($fake->address());
        Assert::throws(ProtocolException::class, fn () => $conn->call('junk'));
        Assert::same('ok', $conn->call('ok'), 'the next call, on a new connection');
    }

    public function testRefusedConnectionIsConnectException(): void
    {
        $conn = new Connection('127.0.0.1:' . freePort(), connectTimeout: 0.5);
        $e = Assert::throws(ConnectException::class, fn () => $conn->call('x'));
        Assert::true(str_contains($e->getMessage(), 'refused'), 'message names the refusal: ' . $e->getMessage());
    }

    public function testConnectTimeoutIsConnectException(): void
    {
        // A listener that never accepts, with its backlog full: Linux drops further SYNs,
        // so a connect hangs until the client's connectTimeout.
        $context = stream_context_create(['socket' => ['backlog' => 0]]);
        $server = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr, STREAM_SERVER_BIND | STREAM_SERVER_LISTEN, $context);
        $address = stream_socket_get_name($server, false);
        $queued = [];
        for ($i = 0; $i < 8; ++$i) {  // fill the accept queue (backlog 0 holds one)
            $c = @stream_socket_client("tcp://$address", $errno, $errstr, 0.1);
            if ($c === false) {
                break;
            }
            $queued[] = $c;
        }
        $conn = new Connection($address, connectTimeout: 0.3, timeout: 5.0);
        $seconds = timed(fn () => $conn->call('x'), $result);
        Assert::true($result instanceof ConnectException, 'expected a ConnectException, got ' . get_debug_type($result)
            . ($result instanceof \Throwable ? ': ' . $result->getMessage() : ''));
        Assert::between(0.25, 1.0, $seconds, 'seconds until the ConnectException (connectTimeout 0.3 s)');
        fclose($server);
    }

    public function testMalformedAddressIsRefusedAtConstruction(): void
    {
        foreach (['localhost', '127.0.0.1:0', '127.0.0.1:70000', 'udp://127.0.0.1:7700', '[::1:7700', ''] as $bad) {
            Assert::throws(\InvalidArgumentException::class, fn () => new Connection($bad), "address '$bad'");
        }
        Assert::same('[::1]:7700', (new Connection('tcp://[::1]:7700'))->address());
    }
}

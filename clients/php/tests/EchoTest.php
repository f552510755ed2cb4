<?php

declare(strict_types=1);

namespace Solar\Client\Tests;

use Solar\Client\Connection;
use Solar\Client\ServerException;
use Solar\Client\TimeoutException;

/** Raw frame32 calls against a real solar running builtin:debug (an echo that also obeys sleep:MS, throw, peer). */
final class EchoTest
{
    private SolarServer $server;

    public function beforeAll(): void
    {
        // error_replies (the default, spelt out): a request whose worker throws gets an
        // error frame and the connection stays; ErrorRepliesOffTest covers false.
        $this->server = SolarServer::start("workers: 2\nworker { name: \"builtin:debug\" }\nerror_replies: true");
    }

    public function afterAll(): void
    {
        unset($this->server);
    }

    public function testCallEchoesThePayloadByteForByte(): void
    {
        $conn = new Connection($this->server->address());
        Assert::same('hello', $conn->call('hello'));
        $binary = "\0\x01\xff\r\n" . str_repeat("\x80", 100);
        Assert::same($binary, $conn->call($binary), 'binary payload');
        $large = random_bytes(1 << 20);
        Assert::same($large, $conn->call($large), '1 MiB payload');
    }

    public function testCallManyReturnsEveryReplyInRequestOrder(): void
    {
        $conn = new Connection($this->server->address());
        $payloads = [];
        for ($i = 0; $i < 200; ++$i) {
            $payloads["k$i"] = "request $i " . str_repeat('x', $i);
        }
        Assert::same($payloads, $conn->callMany($payloads));
        Assert::same([], $conn->callMany([]), 'an empty pipeline');
    }

    public function testPipelineLargerThanTheSocketBuffersDoesNotDeadlock(): void
    {
        // 24 MiB each way: far past the kernel's buffers and solar's 8 MiB
        // output_high_water_bytes, so it works only if the client reads while it writes.
        $conn = new Connection($this->server->address(), timeout: 30.0);
        $payloads = [];
        for ($i = 0; $i < 384; ++$i) {
            $payloads[] = str_repeat(chr(65 + $i % 26), 64 << 10);
        }
        $replies = $conn->callMany($payloads);
        Assert::same(count($payloads), count($replies), 'reply count');
        Assert::true($replies === $payloads, 'every reply equals its request, in order');
    }

    public function testThrowIsServerExceptionAndTheConnectionStillAnswers(): void
    {
        $conn = new Connection($this->server->address());
        Assert::same('before', $conn->call('before'));
        $e = Assert::throws(ServerException::class, fn () => $conn->call('throw'));
        Assert::true(str_contains($e->getMessage(), 'asked to throw'), 'the worker\'s message comes through: ' . $e->getMessage());
        Assert::same('after', $conn->call('after'), 'the call after the error reply');
        Assert::same(0, $conn->reconnectCount(), 'reconnects: the same connection answered');
    }

    public function testThrowInAPipelineHoldsItsPlace(): void
    {
        $conn = new Connection($this->server->address());
        $replies = $conn->callMany(['a', 'throw', 'c']);
        Assert::same('a', $replies[0]);
        Assert::true($replies[1] instanceof ServerException, 'the thrown request has a ServerException in its place, got ' . get_debug_type($replies[1]));
        Assert::same('c', $replies[2]);
    }

    public function testResponseErrorIsServerExceptionWithItsMessage(): void
    {
        // builtin:debug's "error:MSG" answers with Response::error(MSG).
        $conn = new Connection($this->server->address());
        $e = Assert::throws(ServerException::class, fn () => $conn->call('error:no such order: 42 – ünïcode'));
        Assert::same('no such order: 42 – ünïcode', $e->getMessage(), 'the message, UTF-8 intact');
        $e = Assert::throws(ServerException::class, fn () => $conn->call('error:'), 'an empty message');
        Assert::true($e->getMessage() !== '', 'an empty error message still says something: ' . $e->getMessage());
        Assert::same('fine', $conn->call('fine'));
        Assert::same(0, $conn->reconnectCount(), 'reconnects');
    }

    public function testErrorMessageCutAt64KiBStaysValidUtf8(): void
    {
        // The server cuts the message at 65536 bytes, here inside a 2-byte character.
        $conn = new Connection($this->server->address());
        $e = Assert::throws(ServerException::class, fn () => $conn->call('error:x' . str_repeat('é', 40000)));
        Assert::same(65535, strlen($e->getMessage()), 'bytes of the message: 65536 less the half character');
        Assert::true(preg_match('//u', $e->getMessage()) === 1, 'the message is valid UTF-8');
        Assert::same('x' . str_repeat('é', 32767), $e->getMessage());
        Assert::same('fine', $conn->call('fine'));
    }

    public function testErrorRepliesAmongPipelinedRequestsKeepEveryReplyInItsPlace(): void
    {
        $conn = new Connection($this->server->address());
        $payloads = [];
        for ($i = 0; $i < 60; ++$i) {
            $payloads[] = match ($i % 6) {
                1 => 'throw',
                3 => "error:number $i",
                default => "echo $i",
            };
        }
        $payloads[] = 'big:' . (4 * 1024 * 1024 + 1);  // a reply over max_frame_bytes: an error reply too
        $payloads[] = 'last';
        $replies = $conn->callMany($payloads);
        foreach ($payloads as $i => $payload) {
            if ($payload === 'throw') {
                Assert::true($replies[$i] instanceof ServerException && $replies[$i]->getMessage() === 'asked to throw', "reply $i is the throw's error");
            } elseif (str_starts_with($payload, 'error:')) {
                Assert::true($replies[$i] instanceof ServerException && $replies[$i]->getMessage() === substr($payload, 6), "reply $i is its own error");
            } elseif (str_starts_with($payload, 'big:')) {
                Assert::true($replies[$i] instanceof ServerException && str_contains($replies[$i]->getMessage(), 'max_frame_bytes'),
                    "reply $i: the oversized reply is an error reply, got " . get_debug_type($replies[$i]));
            } else {
                Assert::same($payload, $replies[$i], "reply $i");
            }
        }
        // A call that threw, then a pipeline, on the same connection.
        Assert::throws(ServerException::class, fn () => $conn->call('throw'));
        Assert::same(['p' => 'p', 'q' => 'q'], $conn->callMany(['p' => 'p', 'q' => 'q']), 'a pipeline after a thrown call');
        Assert::same(0, $conn->reconnectCount(), 'reconnects: one connection throughout');
    }

    public function testTimeoutIsPromptAndTheLateReplyNeverAnswersALaterCall(): void
    {
        $conn = new Connection($this->server->address(), timeout: 0.3);
        Assert::same('warm', $conn->call('warm'));
        $seconds = timed(fn () => $conn->call('sleep:2000'), $result);
        Assert::true($result instanceof TimeoutException, 'expected a TimeoutException, got ' . get_debug_type($result));
        Assert::between(0.28, 1.0, $seconds, 'seconds until the TimeoutException (the worker sleeps 2 s)');
        Assert::true(!$conn->isConnected(), 'the timed-out connection is closed: its late reply has no reader');
        // The worker still sleeps; the next call goes on a new connection (the other
        // worker, or this one once it wakes) and must get its own reply.
        $patient = new Connection($this->server->address(), timeout: 5.0);
        Assert::same('after', $patient->call('after'));
        Assert::same('again', (new Connection($this->server->address(), timeout: 5.0))->call('again'));
    }

    public function testCallInterruptedByAnExceptionLeavesNoStaleReply(): void
    {
        if (!function_exists('pcntl_async_signals')) {
            return;  // needs the CLI's pcntl
        }
        $id = 'abort' . getmypid();
        $first = new Connection($this->server->address(), timeout: 5.0, persistent: true, persistentId: $id);
        Assert::same('warm', $first->call('warm'));
        // A signal handler that throws while the call waits: the request "dies" mid-call.
        pcntl_async_signals(true);
        pcntl_signal(SIGALRM, static function (): void {
            throw new \RuntimeException('interrupted');
        });
        pcntl_alarm(1);
        try {
            $e = Assert::throws(\RuntimeException::class, fn () => $first->call('sleep:1500'));
            Assert::same('interrupted', $e->getMessage());
        } finally {
            pcntl_alarm(0);
            pcntl_signal(SIGALRM, SIG_DFL);
        }
        Assert::true(!$first->isConnected(), 'the interrupted connection is closed');
        unset($first);
        $next = new Connection($this->server->address(), timeout: 5.0, persistent: true, persistentId: $id);
        Assert::same('mine', $next->call('mine'), 'the next request gets its own reply, not "slept:1500"');
        $next->close();
    }

    public function testPersistentSocketIsReusedByTheNextObject(): void
    {
        $id = 'reuse' . getmypid();
        $first = new Connection($this->server->address(), persistent: true, persistentId: $id);
        $peer = $first->call('peer');
        unset($first);  // as at the end of a PHP-FPM request: the socket stays open
        $second = new Connection($this->server->address(), persistent: true, persistentId: $id);
        Assert::same($peer, $second->call('peer'), 'the same client address: the same socket');
        Assert::same(0, $second->reconnectCount(), 'reconnects');
        $other = new Connection($this->server->address(), persistent: true, persistentId: $id . 'b');
        Assert::true($other->call('peer') !== $peer, 'another persistentId is another socket');
        $second->close();
        $other->close();
    }

    public function testPersistentSocketLeftWithAnUnreadReplyIsReplaced(): void
    {
        $id = 'stale' . getmypid();
        $first = new Connection($this->server->address(), persistent: true, persistentId: $id);
        $peer = $first->call('peer');
        unset($first);
        // An earlier PHP request sent a request on the shared socket and died before
        // reading the reply: reach the same persistent socket and do just that.
        $raw = stream_socket_client("tcp://{$this->server->address()}/$id", $errno, $errstr, 1.0, STREAM_CLIENT_CONNECT | STREAM_CLIENT_PERSISTENT);
        fwrite($raw, pack('N', 9) . 'leftover!');
        $read = [$raw];
        $none = null;
        Assert::true(stream_select($read, $none, $none, 2) === 1, 'the unread reply arrived');
        unset($raw);
        $second = new Connection($this->server->address(), persistent: true, persistentId: $id);
        Assert::same('mine', $second->call('mine'), 'the reply to this call, not the stale one');
        Assert::same(1, $second->reconnectCount(), 'reconnects');
        Assert::true($second->call('peer') !== $peer, 'a new socket');
        $second->close();
    }
}

<?php

declare(strict_types=1);

namespace Solar\Client;

/**
 * One TCP connection to a solar server speaking FRAME32: each request and each
 * reply is a 4-byte big-endian length, then that many payload bytes. A reply
 * whose length word has bit 31 set is an error reply: the low 31 bits are the
 * length of a UTF-8 message (ServerException). Replies come back in request
 * order, so several requests may be sent before the first reply is read
 * (callMany).
 *
 *   $conn = new Connection('127.0.0.1:7700', timeout: 2.0, persistent: true);
 *   $reply = $conn->call($payload);                 // raw bytes, for your own worker
 *   [$a, $b] = $conn->callMany([$p1, $p2]);         // pipelined, replies in order
 *
 * Connecting is lazy: the first call connects. After a timeout, a protocol
 * error or a broken connection the connection is closed, and the next call
 * connects again.
 *
 * Persistent (PHP-FPM): with persistent: true the socket outlives the PHP
 * request (STREAM_CLIENT_PERSISTENT), and the next request handled by the same
 * FPM child reuses it. A reused socket is checked before use: one that has
 * bytes waiting (a reply nobody read, because the request that asked for it
 * died mid-call) or that the server closed is replaced by a new connection.
 * A request that dies inside a call (fatal error, max_execution_time) closes
 * the socket from a shutdown function, so the next request cannot read a
 * reply meant for the dead one.
 *
 * Reconnecting (at most once per call), only where resending is safe:
 *  1. Before sending, a pooled socket (one that served an earlier call, or a
 *     reused persistent socket) is checked with a zero-timeout select(): if the
 *     server closed it (restart, idle_timeout_ms) or bytes wait on it, it is
 *     replaced. Nothing was sent, so this is always safe; it is how a server
 *     restart between calls is absorbed.
 *  2. A pooled socket that breaks (EOF, EPIPE, ECONNRESET) before a single byte
 *     of this call's request went out is replaced and the request sent on the new
 *     one: still nothing was sent.
 *  3. A pooled socket that breaks after the request went out but before any byte
 *     of the reply came: the server may have run the request (a worker that
 *     crashed on it, error_replies: false and a throw) or not (closed in the same
 *     instant). Resent once only when the caller says the request is idempotent
 *     (call($p, idempotent: true)); otherwise ConnectionClosedException.
 * Never after a timeout, never after part of a reply, never on a fresh socket.
 *
 * Not safe to share between threads; one object per persistent key per process
 * (two objects opened with the same address and persistentId share one socket).
 */
final class Connection
{
    public const DEFAULT_MAX_REPLY_BYTES = 256 << 20;

    /** solar cuts an error reply's message to this many bytes. */
    public const MAX_ERROR_BYTES = 64 << 10;

    private const ERROR_BIT = 0x80000000;
    private const LENGTH_MASK = 0x7fffffff;
    private const READ_CHUNK = 65536;
    private const WRITE_CHUNK = 1 << 20;

    private readonly Address $address;
    /** What stream_socket_client() is given; for persistent sockets also the key PHP keeps them under. */
    private readonly string $remote;
    /** @var resource|null */
    private $stream = null;
    /** The current socket has carried a complete exchange (in this PHP request or, persistent, an earlier one). */
    private bool $reused = false;
    /** An exchange is under way: a request that dies now leaves the socket mid-reply. */
    private bool $busy = false;
    /** Request bytes the kernel took, and reply bytes read, in the current attempt: the retry rules. */
    private int $attemptSent = 0;
    private int $attemptBytes = 0;
    private int $reconnects = 0;

    /**
     * @param string $address        "HOST:PORT", "[IPV6]:PORT" or "tcp://HOST:PORT"
     * @param float  $connectTimeout seconds for one connection attempt
     * @param float  $timeout        seconds for one call (or callMany) from the first byte sent to
     *                               the last byte of the last reply
     * @param bool   $persistent     keep the socket across PHP requests (PHP-FPM)
     * @param string $persistentId   with $persistent: a name to keep several sockets to one server
     * @param int    $maxReplyBytes  a reply frame announcing more is a ProtocolException
     */
    public function __construct(
        string $address,
        private readonly float $connectTimeout = 1.0,
        private readonly float $timeout = 5.0,
        private readonly bool $persistent = false,
        string $persistentId = '',
        private readonly int $maxReplyBytes = self::DEFAULT_MAX_REPLY_BYTES,
    ) {
        if ($connectTimeout <= 0 || $timeout <= 0) {
            throw new \InvalidArgumentException('connectTimeout and timeout must be above 0 seconds');
        }
        if ($maxReplyBytes < 1 || $maxReplyBytes > self::LENGTH_MASK) {
            throw new \InvalidArgumentException('maxReplyBytes must be 1..' . self::LENGTH_MASK);
        }
        if ($persistentId !== '' && preg_match('/^[A-Za-z0-9_.-]+$/', $persistentId) !== 1) {
            throw new \InvalidArgumentException("persistentId '$persistentId': use letters, digits, '_', '.', '-'");
        }
        $this->address = Address::parse($address, 'tcp');
        // PHP keys a persistent socket by this string and ignores what follows the
        // port, so a "/name" suffix keeps separate sockets to the same server.
        $this->remote = $this->address->uri('tcp') . ($persistentId !== '' ? '/' . $persistentId : '');
        if ($persistent) {
            // Runs after a fatal error too (max_execution_time, memory limit), which
            // no catch or destructor inside call() would see. A WeakReference, so
            // that the registration does not keep the object alive.
            $self = \WeakReference::create($this);
            register_shutdown_function(static function () use ($self): void {
                $self->get()?->closeIfBusy();
            });
        }
    }

    public function __destruct()
    {
        // A persistent socket stays open for the next PHP request, unless it is mid-reply.
        if (!$this->persistent || $this->busy) {
            $this->close();
        }
    }

    /**
     * Sends one request and returns its reply.
     *
     * @throws ServerException           the server answered with an error reply (the connection stays usable)
     * @throws ConnectException          could not connect; nothing was sent
     * @throws TimeoutException          no whole reply within the timeout; the connection is closed
     * @throws ConnectionClosedException the connection broke before the whole reply came
     * @throws ProtocolException         the reply's framing is invalid; the connection is closed
     *
     * @param bool $idempotent running the request twice does no harm: allows the one resend
     *                         of rule 3 (see the class comment) after a pooled connection broke
     */
    public function call(string $payload, bool $idempotent = false): string
    {
        $reply = $this->exchange([$payload], $idempotent)[0];
        if ($reply instanceof ServerException) {
            throw $reply;
        }
        return $reply;
    }

    /**
     * Pipelining: sends every request, then reads every reply, in order, within one
     * timeout. Returns the replies with the keys of $payloads; a request answered with
     * an error reply has a ServerException object (not thrown) in its place, so that
     * the other replies are not lost. Throws as call() does for anything else.
     *
     * @param array<array-key, string> $payloads
     * @param bool $idempotent as for call(): every request of the lot may run twice
     * @return array<array-key, string|ServerException>
     */
    public function callMany(array $payloads, bool $idempotent = false): array
    {
        if ($payloads === []) {
            return [];
        }
        return array_combine(array_keys($payloads), $this->exchange(array_values($payloads), $idempotent));
    }

    /** Connects now rather than on the first call (or checks the reused persistent socket). */
    public function connect(): void
    {
        $this->ensureOpen();
    }

    /** Closes the socket, a persistent one too. The next call connects again. */
    public function close(): void
    {
        $stream = $this->stream;
        $this->stream = null;
        $this->busy = false;
        $this->reused = false;
        if (is_resource($stream)) {
            @stream_socket_shutdown($stream, STREAM_SHUT_RDWR);
            @fclose($stream);  // closes a persistent socket too, and drops it from PHP's list
        }
    }

    public function isConnected(): bool
    {
        return is_resource($this->stream);
    }

    /** How often this object replaced a broken or stale socket by itself (retries included). */
    public function reconnectCount(): int
    {
        return $this->reconnects;
    }

    public function address(): string
    {
        return $this->address->hostPort();
    }

    /** @internal the shutdown function's: a request that died inside a call. */
    private function closeIfBusy(): void
    {
        if ($this->busy) {
            $this->close();
        }
    }

    /**
     * @param list<string> $payloads
     * @return list<string|ServerException>
     */
    private function exchange(array $payloads, bool $idempotent): array
    {
        $frames = '';
        foreach ($payloads as $i => $payload) {
            if (!is_string($payload)) {
                throw new \InvalidArgumentException("payload $i is " . get_debug_type($payload) . ', not a string');
            }
            if (strlen($payload) > self::LENGTH_MASK) {
                throw new \InvalidArgumentException("payload $i is over " . self::LENGTH_MASK . ' bytes');
            }
            $frames .= pack('N', strlen($payload)) . $payload;
        }
        $this->ensureOpen();
        $wasReused = $this->reused;
        $deadline = hrtime(true) + (int) ($this->timeout * 1e9);
        try {
            return $this->transfer($frames, count($payloads), $deadline);
        } catch (ConnectionClosedException $e) {
            // A pooled socket that broke without a byte of reply: resend when nothing of
            // the request went out (rule 2), or when it did and the caller says running
            // it twice is harmless (rule 3). Anything else is the caller's to decide.
            if (!$wasReused || $this->attemptBytes > 0) {
                throw $e;
            }
            if ($this->attemptSent > 0 && !$idempotent) {
                throw new ConnectionClosedException($e->getMessage()
                    . ' (after the request was sent, so not resent: it may have run; '
                    . 'pass idempotent: true to allow one resend)', $e->getCode(), $e);
            }
        }
        ++$this->reconnects;
        $this->open();
        return $this->transfer($frames, count($payloads), $deadline);
    }

    /** Opens a socket, or replaces the current one if the server closed it or bytes wait on it. */
    private function ensureOpen(): void
    {
        if ($this->stream !== null && !is_resource($this->stream)) {
            $this->stream = null;  // closed by another object sharing the persistent socket
            $this->reused = false;
        }
        if ($this->stream !== null && self::readable($this->stream)) {
            // Between calls nothing may arrive: this is EOF (server gone) or stray bytes.
            $this->close();
            ++$this->reconnects;
        }
        if ($this->stream === null) {
            $this->open();
        }
    }

    private function open(): void
    {
        $this->close();
        $stream = $this->socket();
        // ftell() counts the bytes a socket has carried: above 0 means PHP handed
        // back a persistent socket from an earlier request. PHP's own reuse check
        // drops one the server closed, but keeps one with unread bytes on it.
        $reused = $this->persistent && ftell($stream) > 0;
        if ($reused && self::readable($stream)) {
            @stream_socket_shutdown($stream, STREAM_SHUT_RDWR);
            @fclose($stream);
            ++$this->reconnects;
            $stream = $this->socket();
            $reused = false;
        }
        stream_set_blocking($stream, false);
        stream_set_read_buffer($stream, 0);  // every fread() is one recv(): select() sees what is pending
        $this->stream = $stream;
        $this->reused = $reused;
    }

    /** @return resource */
    private function socket()
    {
        $flags = STREAM_CLIENT_CONNECT | ($this->persistent ? STREAM_CLIENT_PERSISTENT : 0);
        $context = stream_context_create(['socket' => ['tcp_nodelay' => true]]);
        $errno = 0;
        $errstr = '';
        $stream = @stream_socket_client($this->remote, $errno, $errstr, $this->connectTimeout, $flags, $context);
        if ($stream === false) {
            $why = $errstr !== '' ? $errstr : (error_get_last()['message'] ?? 'unknown error');
            throw new ConnectException("cannot connect to {$this->address->hostPort()}: $why", $errno);
        }
        return $stream;
    }

    /**
     * Sends $frames and reads $count replies before $deadline (hrtime ns). Writes and
     * reads interleave, so a pipeline larger than the socket buffers cannot deadlock.
     * Any failure closes the connection.
     *
     * @return list<string|ServerException>
     */
    private function transfer(string $frames, int $count, int $deadline): array
    {
        $stream = $this->stream;
        $this->busy = true;
        $this->attemptSent = 0;
        $this->attemptBytes = 0;
        $total = strlen($frames);
        $sent = 0;
        $buffer = '';
        $replies = [];
        try {
            for (;;) {
                if ($sent < $total) {
                    $chunk = $sent === 0 && $total <= self::WRITE_CHUNK ? $frames : substr($frames, $sent, self::WRITE_CHUNK);
                    error_clear_last();
                    $n = @fwrite($stream, $chunk);
                    if ($n === false) {
                        throw $this->broken('sending', count($replies), $count);
                    }
                    $sent += $n;
                    $this->attemptSent = $sent;
                }
                $left = $deadline - hrtime(true);
                if ($left <= 0) {
                    throw new TimeoutException(sprintf(
                        'no reply from %s within %.3f s%s',
                        $this->address->hostPort(),
                        $this->timeout,
                        $count > 1 ? sprintf(' (%d of %d replies came)', count($replies), $count) : '',
                    ));
                }
                $read = [$stream];
                $write = $sent < $total ? [$stream] : null;
                $except = null;
                $ready = @stream_select($read, $write, $except, intdiv($left, 1_000_000_000), intdiv($left % 1_000_000_000, 1000));
                if ($ready === false || $read === []) {
                    continue;  // EINTR, or only writable; the deadline bounds the loop
                }
                error_clear_last();
                $data = @fread($stream, self::READ_CHUNK);
                if ($data === false || $data === '') {
                    if ($data === false || feof($stream)) {
                        throw $this->broken('reading', count($replies), $count);
                    }
                    continue;
                }
                $this->attemptBytes += strlen($data);
                $buffer .= $data;
                $have = strlen($buffer);
                $pos = 0;
                while ($have - $pos >= 4) {
                    $word = unpack('N', $buffer, $pos)[1];
                    $length = $word & self::LENGTH_MASK;
                    if (($word & self::ERROR_BIT) !== 0 && $length > self::MAX_ERROR_BYTES) {
                        throw new ProtocolException(sprintf(
                            'error reply of %d bytes from %s: solar sends at most %d, the stream is out of step',
                            $length,
                            $this->address->hostPort(),
                            self::MAX_ERROR_BYTES,
                        ));
                    }
                    if ($length > $this->maxReplyBytes) {
                        throw new ProtocolException(sprintf(
                            'reply frame of %d bytes from %s is over maxReplyBytes (%d)',
                            $length,
                            $this->address->hostPort(),
                            $this->maxReplyBytes,
                        ));
                    }
                    if ($have - $pos - 4 < $length) {
                        break;
                    }
                    $body = substr($buffer, $pos + 4, $length);
                    $replies[] = ($word & self::ERROR_BIT) !== 0 ? new ServerException(self::errorText($body)) : $body;
                    $pos += 4 + $length;
                }
                $buffer = $pos === $have ? '' : ($pos > 0 ? substr($buffer, $pos) : $buffer);
                if (count($replies) >= $count) {
                    if ($buffer !== '' || count($replies) > $count) {
                        throw new ProtocolException("{$this->address->hostPort()} sent bytes after the last reply");
                    }
                    break;
                }
            }
        } catch (\Throwable $e) {
            // Ours, or anything else thrown mid-call (a signal handler, an error
            // handler that throws): the socket is mid-exchange and must not be reused.
            $this->close();
            throw $e;
        }
        $this->busy = false;
        $this->reused = true;
        return $replies;
    }

    private function broken(string $doing, int $got, int $count): ConnectionClosedException
    {
        // PHP reports a failed send() as a notice ("... failed with errno=32 Broken pipe");
        // a failed recv() leaves no notice, only eof.
        $message = error_get_last()['message'] ?? '';
        $why = preg_match('/errno=\d+ (.*)$/', $message, $m) === 1 ? $m[1] : 'closed or reset by the server';
        return new ConnectionClosedException(sprintf(
            'connection to %s lost while %s: %s%s',
            $this->address->hostPort(),
            $doing,
            $why,
            $count > 1 ? sprintf(' (%d of %d replies came)', $got, $count) : '',
        ));
    }

    /**
     * An error reply's message. solar cuts it at MAX_ERROR_BYTES bytes, which may
     * split a UTF-8 character: a partial one at the end is dropped.
     */
    private static function errorText(string $body): string
    {
        if ($body === '') {
            return 'the server answered with an error (no message)';
        }
        if (preg_match('//u', $body) !== 1) {
            for ($cut = 1; $cut <= 3 && $cut < strlen($body); ++$cut) {
                $trimmed = substr($body, 0, -$cut);
                if (preg_match('//u', $trimmed) === 1) {
                    return $trimmed;
                }
            }
        }
        return $body;  // not UTF-8 (a worker's own bytes): as it came
    }

    /** True when select() says the socket can be read now: data, EOF or an error. */
    private static function readable($stream): bool
    {
        $read = [$stream];
        $write = null;
        $except = null;
        return @stream_select($read, $write, $except, 0, 0) !== 0;
    }
}

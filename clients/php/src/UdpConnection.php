<?php

declare(strict_types=1);

namespace Solar\Client;

/**
 * Requests to solar's UDP path: one datagram is one request, and the reply is
 * one datagram back (no length prefix; at most udp.max_datagram_bytes).
 *
 *   $udp = new UdpConnection('127.0.0.1:7701');
 *   $reply = $udp->call($payload, timeout: 0.2, retries: 2);
 *
 * What UDP does not give you, and this class cannot add:
 *  - A retry may run the request twice: the first datagram may have arrived and
 *    only its reply was lost (or was late). Retry only idempotent requests.
 *  - There is no error reply over UDP: a request the worker throws on (or one the
 *    server drops: queue full, too big) gets no answer, which the caller sees as a
 *    TimeoutException after the last retry.
 *  - Replies carry nothing that ties them to a request; a late reply to an earlier
 *    call is discarded only if it arrives before the next call starts (each call
 *    first drops datagrams already waiting) or if $accept rejects it. KvClient
 *    passes an $accept that matches the KvResponse id.
 *
 * The socket is connect()ed to the server, so the kernel drops datagrams from
 * anyone else and a closed port shows as ConnectException ("connection refused").
 */
final class UdpConnection
{
    private const MAX_DATAGRAM = 65535;

    private readonly Address $address;
    /** @var resource|null */
    private $stream = null;

    /**
     * @param float $timeout default seconds to wait for a reply, per attempt
     * @param int   $retries default number of re-sends after a timeout
     */
    public function __construct(
        string $address,
        private readonly float $timeout = 1.0,
        private readonly int $retries = 0,
    ) {
        if ($timeout <= 0 || $retries < 0) {
            throw new \InvalidArgumentException('timeout must be above 0 seconds and retries at least 0');
        }
        $this->address = Address::parse($address, 'udp');
    }

    public function __destruct()
    {
        $this->close();
    }

    /**
     * Sends $payload in one datagram and returns the first reply datagram that
     * $accept (if given) accepts. Each attempt waits $timeout seconds; after a
     * timeout the datagram is sent again, up to $retries times, and a reply to
     * any of the copies is taken.
     *
     * @param callable(string):bool|null $accept
     * @throws TimeoutException no accepted reply after the last attempt
     * @throws ConnectException the server's port is closed (ICMP unreachable), or no socket
     */
    public function call(string $payload, ?float $timeout = null, ?int $retries = null, ?callable $accept = null): string
    {
        $timeout ??= $this->timeout;
        $retries ??= $this->retries;
        if ($timeout <= 0 || $retries < 0) {
            throw new \InvalidArgumentException('timeout must be above 0 seconds and retries at least 0');
        }
        if (strlen($payload) > self::MAX_DATAGRAM) {
            throw new \InvalidArgumentException('a UDP request is at most ' . self::MAX_DATAGRAM . ' bytes');
        }
        $stream = $this->open();
        try {
            $this->drainStale($stream);
            for ($attempt = 0; $attempt <= $retries; ++$attempt) {
                $this->send($stream, $payload);
                $reply = $this->await($stream, hrtime(true) + (int) ($timeout * 1e9), $accept);
                if ($reply !== null) {
                    return $reply;
                }
            }
        } catch (ConnectException $e) {
            $this->close();  // the socket holds the error state; start over next time
            throw $e;
        }
        throw new TimeoutException(sprintf(
            'no UDP reply from %s within %.3f s%s',
            $this->address->hostPort(),
            $timeout,
            $retries > 0 ? sprintf(' (%d attempts)', $retries + 1) : '',
        ));
    }

    public function close(): void
    {
        if (is_resource($this->stream)) {
            @fclose($this->stream);
        }
        $this->stream = null;
    }

    public function address(): string
    {
        return $this->address->hostPort();
    }

    /** @return resource */
    private function open()
    {
        if (is_resource($this->stream)) {
            return $this->stream;
        }
        $errno = 0;
        $errstr = '';
        $stream = @stream_socket_client($this->address->uri('udp'), $errno, $errstr);
        if ($stream === false) {
            throw new ConnectException("cannot open a UDP socket to {$this->address->hostPort()}: $errstr", $errno);
        }
        stream_set_blocking($stream, false);
        stream_set_read_buffer($stream, 0);  // one fread() is one recv() is one datagram
        return $this->stream = $stream;
    }

    /** @param resource $stream */
    private function send($stream, string $payload): void
    {
        error_clear_last();
        $n = @fwrite($stream, $payload);
        if ($n === false) {
            throw $this->refusedOr('sending');
        }
        // $n === 0: the socket's send buffer is full and the datagram was not sent:
        // like a lost datagram, the wait times out and a retry sends it again.
    }

    /**
     * Waits for a reply until $deadline (hrtime ns): the reply, or null on timeout.
     *
     * @param resource $stream
     */
    private function await($stream, int $deadline, ?callable $accept): ?string
    {
        for (;;) {
            $left = $deadline - hrtime(true);
            if ($left <= 0) {
                return null;
            }
            $read = [$stream];
            $write = null;
            $except = null;
            $ready = @stream_select($read, $write, $except, intdiv($left, 1_000_000_000), intdiv($left % 1_000_000_000, 1000));
            if ($ready === false || $read === []) {
                continue;
            }
            $reply = $this->receive($stream);
            if ($reply !== null && ($accept === null || $accept($reply))) {
                return $reply;
            }
        }
    }

    /** Drops datagrams already waiting: late replies to earlier calls. @param resource $stream */
    private function drainStale($stream): void
    {
        for (;;) {
            $read = [$stream];
            $write = null;
            $except = null;
            if (@stream_select($read, $write, $except, 0, 0) < 1) {
                return;
            }
            try {
                $this->receive($stream);
            } catch (ConnectException) {
                // the error of an earlier datagram, now consumed: this call starts clean
            }
        }
    }

    /**
     * One datagram, after select() said readable. An empty string is an empty
     * datagram (select() said one was there); null is nothing after all.
     *
     * @param resource $stream
     */
    private function receive($stream): ?string
    {
        error_clear_last();
        $data = @fread($stream, self::MAX_DATAGRAM);
        if ($data === false) {
            throw $this->refusedOr('receiving');
        }
        return $data;
    }

    private function refusedOr(string $doing): SolarException
    {
        // A failed send() leaves a notice with the errno; a failed recv() leaves none,
        // and on a connected UDP socket it is almost always the ICMP "port unreachable"
        // of an earlier datagram.
        $message = error_get_last()['message'] ?? '';
        if (preg_match('/errno=(\d+) (.*)$/', $message, $m) === 1) {
            return new ConnectException("UDP to {$this->address->hostPort()} failed while $doing: {$m[2]}", (int) $m[1]);
        }
        return new ConnectException("UDP to {$this->address->hostPort()} failed while $doing: "
            . 'connection refused (no UDP server listening there?)');
    }
}

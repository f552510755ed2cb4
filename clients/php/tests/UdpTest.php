<?php

declare(strict_types=1);

namespace Solar\Client\Tests;

use Solar\Client\ConnectException;
use Solar\Client\TimeoutException;
use Solar\Client\UdpConnection;

/** UdpConnection against a real solar's UDP path, running builtin:debug. */
final class UdpTest
{
    private SolarServer $server;

    public function beforeAll(): void
    {
        $this->server = SolarServer::start(implode("\n", [
            'workers: 1',
            'worker { name: "builtin:debug" }',
            'udp { listen: "127.0.0.1:0" workers: 1 }',
        ]));
    }

    public function afterAll(): void
    {
        unset($this->server);
    }

    public function testOneDatagramIsEchoed(): void
    {
        $udp = new UdpConnection($this->server->udpAddress(), timeout: 2.0);
        Assert::same('hello', $udp->call('hello'));
        $binary = "\0\xff" . random_bytes(1000);
        Assert::same($binary, $udp->call($binary), 'a binary datagram');
        Assert::same('again', $udp->call('again'), 'a second call on the same socket');
    }

    public function testThrowGetsNoReplyOverUdp(): void
    {
        // No error reply exists over UDP: the caller sees silence, then a timeout.
        $udp = new UdpConnection($this->server->udpAddress());
        $seconds = timed(fn () => $udp->call('throw', timeout: 0.2, retries: 1), $result);
        Assert::true($result instanceof TimeoutException, 'expected a TimeoutException, got ' . get_debug_type($result));
        Assert::between(0.38, 0.9, $seconds, 'two attempts of 0.2 s');
        Assert::same('still there', $udp->call('still there', timeout: 2.0), 'the next call');
    }

    public function testRetryResendsAndMayRunTheRequestTwice(): void
    {
        $udp = new UdpConnection($this->server->udpAddress());
        // The first copy's reply comes after 0.3 s, during the second attempt: it is
        // taken. The second copy runs too (its reply comes later and is stale).
        $seconds = timed(fn () => $udp->call('sleep:300', timeout: 0.2, retries: 2), $result);
        Assert::same('slept:300', $result, 'the reply');
        Assert::between(0.28, 1.0, $seconds, 'seconds: the first copy\'s reply, after the first attempt timed out');
        // The second copy's reply is still on its way; $accept skips it.
        Assert::same('next', $udp->call('next', timeout: 2.0, accept: fn (string $r): bool => $r === 'next'));
    }

    public function testClosedPortIsConnectException(): void
    {
        $udp = new UdpConnection('127.0.0.1:' . freePort());  // nothing listens: ICMP port unreachable
        Assert::throws(ConnectException::class, fn () => $udp->call('anyone?', timeout: 1.0));
    }
}

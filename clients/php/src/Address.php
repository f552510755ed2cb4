<?php

declare(strict_types=1);

namespace Solar\Client;

/**
 * A server address: "HOST:PORT", "[IPV6]:PORT", optionally with a "tcp://" or
 * "udp://" prefix that must match the transport. HOST may be a name.
 *
 * @internal used by Connection and UdpConnection
 */
final class Address
{
    private function __construct(
        public readonly string $host,
        public readonly int $port,
    ) {
    }

    /** @throws \InvalidArgumentException when $address is malformed or names the other transport */
    public static function parse(string $address, string $scheme): self
    {
        $text = $address;
        if (preg_match('~^([a-z]+)://~', $text, $m) === 1) {
            if ($m[1] !== $scheme) {
                throw new \InvalidArgumentException("address '$address': expected $scheme://, or no scheme");
            }
            $text = substr($text, strlen($m[0]));
        }
        if (preg_match('~^\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})$~', $text, $m) === 1
            || preg_match('~^([^:\[\]/\s]+):([0-9]{1,5})$~', $text, $m) === 1) {
            $port = (int) $m[2];
            if ($port >= 1 && $port <= 65535) {
                return new self($m[1], $port);
            }
        }
        throw new \InvalidArgumentException("invalid server address '$address': expected HOST:PORT or [IPV6]:PORT");
    }

    /** The form stream_socket_client() wants: "tcp://127.0.0.1:7700", "udp://[::1]:7701". */
    public function uri(string $scheme): string
    {
        return $scheme . '://' . $this->hostPort();
    }

    public function hostPort(): string
    {
        return (str_contains($this->host, ':') ? '[' . $this->host . ']' : $this->host) . ':' . $this->port;
    }
}

<?php

declare(strict_types=1);

/*
 * A scripted FRAME32 server for the client's failure rules: the cases a real
 * solar cannot be made to produce on demand (a close right after a request
 * arrives, half a reply, a reset, a bad frame).
 *
 *   php fake_server.php SCENARIO
 *
 * Binds 127.0.0.1:0 and prints "port N", then "accepted K" at each accepted
 * connection (K counts from 1), one connection at a time. Each request gets the
 * action the scenario picks for (connection K, request R on it):
 *   echo     reply with the payload; payload "throw" gets an error reply (bit 31)
 *            "asked to throw"; "junk" gets its reply and 3 stray bytes; "huge" a
 *            length word of 0x7ffffff0; "huge-error" an error reply of 70000
 *            bytes (solar's are at most 64 KiB); "trickle" its reply and
 *            "trickle-error" an error reply "trickled", one byte per write
 *   echo-close  reply as echo, then close the connection
 *   close    close without a reply
 *   reset    close with SO_LINGER 0: an RST
 *   partial  2 bytes of a length word, then close
 *   silent   never reply (the process sleeps until killed)
 */

$scenarios = [
    'echo' => static fn (int $conn, int $req): string => 'echo',
    'close-first' => static fn (int $conn, int $req): string => 'close',
    'break-second' => static fn (int $conn, int $req): string => $conn === 1 && $req === 2 ? 'close' : 'echo',
    'reset-second' => static fn (int $conn, int $req): string => $conn === 1 && $req === 2 ? 'reset' : 'echo',
    'partial-second' => static fn (int $conn, int $req): string => $conn === 1 && $req === 2 ? 'partial' : 'echo',
    'silent-second' => static fn (int $conn, int $req): string => $conn === 1 && $req === 2 ? 'silent' : 'echo',
    'break-always-after-first' => static fn (int $conn, int $req): string => $conn === 1 && $req === 1 ? 'echo' : 'close',
    'close-after-first' => static fn (int $conn, int $req): string => $conn === 1 && $req === 1 ? 'echo-close' : 'echo',
];
$scenario = $argv[1] ?? '';
if (!isset($scenarios[$scenario])) {
    fwrite(STDERR, "usage: fake_server.php " . implode('|', array_keys($scenarios)) . "\n");
    exit(2);
}
$pick = $scenarios[$scenario];

$server = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
if ($server === false) {
    fwrite(STDERR, "bind: $errstr\n");
    exit(1);
}
$name = stream_socket_get_name($server, false);
fwrite(STDOUT, 'port ' . substr($name, strrpos($name, ':') + 1) . "\n");

/** Reads exactly $n bytes; null at EOF. */
function readExactly($conn, int $n): ?string
{
    $data = '';
    while (strlen($data) < $n) {
        $chunk = fread($conn, $n - strlen($data));
        if ($chunk === false || ($chunk === '' && feof($conn))) {
            return null;
        }
        $data .= $chunk;
    }
    return $data;
}

function frame(string $payload, bool $error = false): string
{
    return pack('N', strlen($payload) | ($error ? 0x80000000 : 0)) . $payload;
}

for ($connNo = 1; ; ++$connNo) {
    $conn = @stream_socket_accept($server, 3600);
    if ($conn === false) {
        continue;
    }
    fwrite(STDOUT, "accepted $connNo\n");
    socket_set_option(socket_import_stream($conn), SOL_TCP, TCP_NODELAY, 1);  // small writes leave at once
    for ($reqNo = 1; ; ++$reqNo) {
        $header = readExactly($conn, 4);
        if ($header === null) {
            break;
        }
        $payload = readExactly($conn, unpack('N', $header)[1]);
        if ($payload === null) {
            break;
        }
        $action = $pick($connNo, $reqNo);
        if ($action === 'close') {
            break;
        }
        if ($action === 'reset') {
            $socket = socket_import_stream($conn);
            socket_set_option($socket, SOL_SOCKET, SO_LINGER, ['l_onoff' => 1, 'l_linger' => 0]);
            socket_close($socket);
            break;
        }
        if ($action === 'partial') {
            fwrite($conn, "\0\0");
            break;
        }
        if ($action === 'silent') {
            sleep(3600);
        }
        $reply = match ($payload) {
            'throw' => frame('asked to throw', true),
            'junk' => frame('junk') . 'xyz',
            'huge' => pack('N', 0x7ffffff0),
            'huge-error' => frame(str_repeat('e', 70000), true),
            'trickle' => frame('trickle'),
            'trickle-error' => frame('trickled', true),
            default => frame($payload),
        };
        if (str_starts_with($payload, 'trickle')) {
            foreach (str_split($reply) as $byte) {
                fwrite($conn, $byte);
                usleep(2000);  // each byte its own segment: the client sees every split
            }
        } else {
            fwrite($conn, $reply);
        }
        if ($action === 'echo-close') {
            break;
        }
    }
    if (is_resource($conn)) {  // socket_close() of a reset already closed it
        fclose($conn);
    }
}

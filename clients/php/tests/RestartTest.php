<?php

declare(strict_types=1);

namespace Solar\Client\Tests;

use Solar\Client\Connection;
use Solar\Client\KvClient;

/** A real solar stopped and started again on the same port under a connected client. */
final class RestartTest
{
    public function testCallAfterAServerRestartSucceedsThroughOneReconnect(): void
    {
        // A fixed port, found free by binding port 0: the restarted server must be
        // reachable at the address the old connection had.
        $server = SolarServer::start("workers: 1\nworker { name: \"builtin:kv\" }", freePort());
        $kv = new KvClient(new Connection($server->address()));
        $kv->put('restart:k', 'kept');
        Assert::same('kept', $kv->get('restart:k'));
        $oldPid = $server->pid();
        $server->restart();
        Assert::true($server->pid() !== $oldPid, 'a new master');
        // A put is never resent once sent: it goes through only because the client finds
        // the old connection closed before sending, and replaces it.
        $kv->put('restart:k2', 'written after the restart');
        Assert::same(1, $kv->connection()->reconnectCount(), 'reconnects');
        Assert::same('kept', $kv->get('restart:k'), 'the value from before the restart (SQLite in state_dir)');
        Assert::same('written after the restart', $kv->get('restart:k2'));
        Assert::same(1, $kv->connection()->reconnectCount(), 'reconnects after the next calls');
    }

    public function testPersistentSocketToARestartedServerIsReplaced(): void
    {
        $server = SolarServer::start("workers: 1\nworker { name: \"builtin:debug\" }", freePort());
        $id = 'restart' . getmypid();
        $first = new Connection($server->address(), persistent: true, persistentId: $id);
        Assert::same('before', $first->call('before'));
        unset($first);  // the end of a PHP request; the socket stays in PHP's persistent list
        $server->restart();
        $second = new Connection($server->address(), persistent: true, persistentId: $id);
        Assert::same('after', $second->call('after'), 'the first call of the next request');
        $second->close();
    }
}

<?php

declare(strict_types=1);

namespace Solar\Client\Tests;

use Solar\Client\Connection;
use Solar\Client\KvClient;
use Solar\Client\KvException;
use Solar\Client\UdpConnection;
use Solar\Kv\Batch;
use Solar\Kv\Del;
use Solar\Kv\Get;
use Solar\Kv\KvRequest;
use Solar\Kv\Put;
use Solar\Kv\Scan;
use Solar\Kv\Status;

/** KvClient against a real solar running builtin:kv on SQLite (state_dir in the test's temp dir). */
final class KvTest
{
    private SolarServer $server;
    private KvClient $kv;

    public function beforeAll(): void
    {
        $this->server = SolarServer::start(implode("\n", [
            'workers: 2',
            'worker { name: "builtin:kv" }',
            'udp { listen: "127.0.0.1:0" workers: 1 }',
        ]));
        $this->kv = new KvClient(new Connection($this->server->address()));
    }

    public function afterAll(): void
    {
        unset($this->kv, $this->server);
    }

    public function testPutGetDeleteRoundTrip(): void
    {
        $kv = $this->kv;
        Assert::same(null, $kv->get('rt:missing'), 'get of a key never written');
        $kv->put('rt:user', '{"name":"Ada"}');
        Assert::same('{"name":"Ada"}', $kv->get('rt:user'));
        $binary = "\0\xff\x80 bytes";
        $kv->put("rt:\0bin", $binary);
        Assert::same($binary, $kv->get("rt:\0bin"), 'a binary key and value');
        $kv->put('rt:user', 'replaced');
        Assert::same('replaced', $kv->get('rt:user'), 'put replaces');
        $kv->put('rt:empty', '');
        Assert::same('', $kv->get('rt:empty'), 'an empty value is not a missing key');
        Assert::same(true, $kv->delete('rt:user'), 'delete of an existing key');
        Assert::same(null, $kv->get('rt:user'), 'get after delete');
        Assert::same(false, $kv->delete('rt:user'), 'delete of a missing key');
    }

    public function testStateIsTheSqliteFileInTheTestsStateDir(): void
    {
        $this->kv->put('file:k', 'v');
        $file = $this->server->dir . '/state/kv/kv.sqlite3';
        Assert::true(is_file($file) && filesize($file) > 0, "the SQLite database is $file");
    }

    public function testReadsMayBeResentWritesMayNot(): void
    {
        // What KvClient tells Connection::call() (its idempotent flag), per request.
        $readOnly = new \ReflectionMethod(KvClient::class, 'readOnly');
        $request = static fn (callable $set): KvRequest => $set(new KvRequest());
        $cases = [
            'get' => [true, fn (KvRequest $r) => $r->setGet(new Get())],
            'scan' => [true, fn (KvRequest $r) => $r->setScan(new Scan())],
            'put' => [false, fn (KvRequest $r) => $r->setPut(new Put())],
            'del' => [false, fn (KvRequest $r) => $r->setDel(new Del())],
            'batch of reads' => [true, fn (KvRequest $r) => $r->setBatch((new Batch())->setOps([KvClient::getOp('a'), KvClient::scanOp('b')]))],
            'batch with a put' => [false, fn (KvRequest $r) => $r->setBatch((new Batch())->setOps([KvClient::getOp('a'), KvClient::putOp('b', 'c')]))],
            'no operation' => [false, fn (KvRequest $r) => $r],
        ];
        foreach ($cases as $name => [$expected, $set]) {
            Assert::same($expected, $readOnly->invoke(null, $request($set)), $name);
        }
    }

    public function testScanReturnsPagesInBytewiseKeyOrder(): void
    {
        $kv = $this->kv;
        foreach (['b', 'a', 'c', 'B', 'aa'] as $suffix) {
            $kv->put("sc:$suffix", "v-$suffix");
        }
        $kv->put('sd:outside', 'not under the prefix');
        $first = $kv->scan('sc:', limit: 2);
        Assert::same([['sc:B', 'v-B'], ['sc:a', 'v-a']], $first->entries, 'first page');
        Assert::same(true, $first->more, 'more after the first page');
        $rest = $kv->scan('sc:', limit: 10, startAfter: $first->lastKey());
        Assert::same(['sc:aa', 'sc:b', 'sc:c'], $rest->keys(), 'second page');
        Assert::same(false, $rest->more, 'no more after the last page');
        $keysOnly = $kv->scan('sc:', keysOnly: true);
        Assert::same(['', '', '', '', ''], array_column($keysOnly->entries, 1), 'keysOnly values');
        Assert::same(
            ['sc:B' => 'v-B', 'sc:a' => 'v-a', 'sc:aa' => 'v-aa', 'sc:b' => 'v-b', 'sc:c' => 'v-c'],
            iterator_to_array($kv->scanAll('sc:', pageSize: 2)),
            'scanAll over pages of 2',
        );
    }

    public function testScanAllKeepsNumericKeysAsStrings(): void
    {
        $this->kv->put('41', 'x');
        $this->kv->put('42', 'y');
        $keys = [];
        foreach ($this->kv->scanAll('4') as $key => $value) {
            $keys[] = $key;
        }
        Assert::same(['41', '42'], $keys, 'keys as strings');
    }

    public function testBatchAnswersEachOperationInOneRoundTrip(): void
    {
        $kv = $this->kv;
        $kv->put('bt:old', 'old');
        $results = $kv->batch([
            'put' => KvClient::putOp('bt:new', 'new'),
            'get' => KvClient::getOp('bt:new'),
            'missing' => KvClient::getOp('bt:none'),
            'del' => KvClient::deleteOp('bt:old'),
            'delMissing' => KvClient::deleteOp('bt:none'),
            'scan' => KvClient::scanOp('bt:'),
        ]);
        Assert::same(['put', 'get', 'missing', 'del', 'delMissing', 'scan'], array_keys($results), 'result keys');
        Assert::same(true, $results['put']);
        Assert::same('new', $results['get'], 'a get sees the put before it');
        Assert::same(null, $results['missing']);
        Assert::same(true, $results['del']);
        Assert::same(false, $results['delMissing']);
        Assert::same([['bt:new', 'new']], $results['scan']->entries, 'scan inside the batch');
        Assert::same(null, $kv->get('bt:old'), 'the batch\'s delete was applied');
    }

    public function testBadRequestIsKvExceptionAndTheConnectionStaysUsable(): void
    {
        $e = Assert::throws(KvException::class, fn () => $this->kv->get(''), 'get of an empty key');
        Assert::same(Status::INVALID_ARGUMENT, $e->status());
        Assert::true(str_starts_with($e->getMessage(), 'INVALID_ARGUMENT'), 'message starts with the status name: ' . $e->getMessage());
        Assert::same(false, $e->isRetryable(), 'INVALID_ARGUMENT is not retryable');
        $e = Assert::throws(KvException::class, fn () => $this->kv->scan('', limit: 100000), 'scan over the maximum limit');
        Assert::same('INVALID_ARGUMENT', $e->statusName());
        $e = Assert::throws(KvException::class, fn () => $this->kv->put(str_repeat('k', 5000), 'v'), 'a key over max_key_bytes');
        Assert::same(Status::TOO_LARGE, $e->status());
        $this->kv->put('bad:after', 'fine');
        Assert::same('fine', $this->kv->get('bad:after'), 'the same connection after error statuses');
        Assert::same(0, $this->kv->connection()->reconnectCount(), 'reconnects');
    }

    public function testKvOverUdp(): void
    {
        $udp = new KvClient(new UdpConnection($this->server->udpAddress(), timeout: 2.0));
        $udp->put('udp:k', 'over udp');
        Assert::same('over udp', $udp->get('udp:k'));
        Assert::same('over udp', $this->kv->get('udp:k'), 'the TCP client sees the UDP put');
        Assert::same(true, $udp->delete('udp:k'));
        Assert::same(null, $udp->get('udp:k'));
    }
}

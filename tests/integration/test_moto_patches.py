"""local/moto_patches.py: a cancelled transaction leaves the table as it was, the stream can be trimmed, and shard
iterators expire, all through the same AWS calls the handlers make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import StreamShard, Table

from local import moto_patches
from tests.conftest import Harness, example


def s(value: str) -> dict[str, str]:
    return {"S": value}


def item(pk: str, sk: str, **attrs: str) -> dict[str, Any]:
    return {"pk": s(pk), "sk": s(sk), **{name: s(value) for name, value in attrs.items()}}


def moto_table(harness: Harness) -> Table:
    table: Table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(harness.stack.table_name)
    return table


def shard(harness: Harness) -> StreamShard:
    found = moto_table(harness).stream_shard
    assert found is not None
    return found


def everything(harness: Harness) -> list[dict[str, Any]]:
    pages = harness.dynamodb.get_paginator("scan").paginate(TableName=harness.stack.table_name)
    return sorted((entry for page in pages for entry in page["Items"]), key=lambda e: (e["pk"]["S"], e["sk"]["S"]))


def flows_index(harness: Harness) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = harness.dynamodb.query(
        TableName=harness.stack.table_name,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :pk",
        ExpressionAttributeValues={":pk": s("FLOWS")},
    )["Items"]
    return items


def stream_records(harness: Harness) -> list[dict[str, Any]]:
    streams = harness.pump._streams  # the StreamCursor the harness reads the stream with
    description = streams.describe_stream(StreamArn=harness.stack.stream_arn)["StreamDescription"]
    shard_id = description["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=harness.stack.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator)["Records"]
    return records


def seed(harness: Harness) -> None:
    put = harness.dynamodb.put_item
    name = harness.stack.table_name
    put(TableName=name, Item=item("EXEC#a", "META", status="RUNNING", gsi1pk="FLOWS", gsi1sk="a"))
    put(TableName=name, Item=item("EXEC#a", "RUN#000001#t", status="SUCCESS"))
    put(TableName=name, Item=item("EXEC#b", "META", status="RUNNING"))


def test_a_cancelled_transaction_leaves_the_table_exactly_as_before(harness: Harness) -> None:
    seed(harness)
    before, index_before, records_before = everything(harness), flows_index(harness), stream_records(harness)
    name = harness.stack.table_name

    with pytest.raises(ClientError) as refused:
        harness.dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": item("EXEC#new", "META", status="RUNNING")}},  # a new partition
                {"Put": {"TableName": name, "Item": item("EXEC#a", "RUN#000002#t", status="PENDING")}},
                {"Put": {"TableName": name, "Item": item("EXEC#a", "META", status="COMPLETED")}},  # drops the GSI keys
                {
                    "Update": {
                        "TableName": name,
                        "Key": {"pk": s("EXEC#a"), "sk": s("RUN#000001#t")},
                        "UpdateExpression": "SET #status = :s, attempts = list_append(if_not_exists(attempts, :e), :x)",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":s": s("FAILURE"), ":e": {"L": []}, ":x": {"L": [s("1")]}},
                    }
                },
                {"Delete": {"TableName": name, "Key": {"pk": s("EXEC#b"), "sk": s("META")}}},
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": {"pk": s("EXEC#nowhere"), "sk": s("META")},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )

    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException", refused.value.response
    reasons = [reason["Code"] for reason in refused.value.response["CancellationReasons"]]
    assert reasons == ["None"] * 5 + ["ConditionalCheckFailed"]
    assert everything(harness) == before
    assert flows_index(harness) == index_before
    assert stream_records(harness) == records_before  # a cancelled transaction emits no record


def test_two_operations_on_one_item_are_refused_and_undone(harness: Harness) -> None:
    seed(harness)
    before = everything(harness)
    name = harness.stack.table_name

    with pytest.raises(ClientError) as refused:
        harness.dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": item("EXEC#b", "META", status="FAILED")}},
                {"Delete": {"TableName": name, "Key": {"pk": s("EXEC#b"), "sk": s("META")}}},
            ]
        )

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert everything(harness) == before


def test_a_refused_condition_can_return_the_item_as_it_was(harness: Harness) -> None:
    seed(harness)
    name = harness.stack.table_name

    with pytest.raises(ClientError) as refused:
        harness.dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": name,
                        "Item": item("EXEC#b", "META", status="FAILED"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            ]
        )

    reason = refused.value.response["CancellationReasons"][0]
    assert reason["Code"] == "ConditionalCheckFailed"
    assert reason["Item"]["status"] == s("RUNNING")


def test_a_committed_transaction_writes_everything_and_its_records(harness: Harness) -> None:
    seed(harness)
    name = harness.stack.table_name
    records_before = len(stream_records(harness))

    harness.dynamodb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": name, "Item": item("EXEC#a", "RUN#000002#t", status="PENDING")}},
            {"Delete": {"TableName": name, "Key": {"pk": s("EXEC#b"), "sk": s("META")}}},
        ]
    )

    keys = [(entry["pk"]["S"], entry["sk"]["S"]) for entry in everything(harness)]
    assert keys == [("EXEC#a", "META"), ("EXEC#a", "RUN#000001#t"), ("EXEC#a", "RUN#000002#t")]
    assert [record["eventName"] for record in stream_records(harness)[records_before:]] == ["INSERT", "REMOVE"]


def test_a_transaction_copies_no_table(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(harness)

    def refuse(table: Table, memo: dict[int, Any]) -> Table:
        raise AssertionError("a transaction copied the whole table")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    name = harness.stack.table_name
    harness.dynamodb.transact_write_items(
        TransactItems=[{"Put": {"TableName": name, "Item": item("EXEC#c", "META", status="RUNNING")}}]
    )
    with pytest.raises(ClientError):
        harness.dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": name,
                        "Item": item("EXEC#c", "META"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
        )


def test_the_pump_reads_on_after_a_cancelled_transaction(harness: Harness) -> None:
    """moto used to swap in a copy of the table (and of its stream) on a cancel; readers kept reading."""
    seed(harness)
    harness.drain()
    name = harness.stack.table_name
    with pytest.raises(ClientError):
        harness.dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": name, "Item": item("EXEC#d", "META")}},
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": item("EXEC#zz", "META"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )

    document = harness.run_flow(example("data_processing"))

    assert document["status"] == "COMPLETED"


# -- the stream ------------------------------------------------------------------------------------------------


def test_trimming_keeps_sequence_numbers_and_refuses_reads_below_the_horizon(harness: Harness) -> None:
    seed(harness)
    records = stream_records(harness)
    numbers = [record["dynamodb"]["SequenceNumber"] for record in records]

    dropped = moto_patches.trim_stream(shard(harness), keep_from=int(numbers[1]))

    assert dropped == 1
    assert [record["dynamodb"]["SequenceNumber"] for record in stream_records(harness)] == numbers[1:]
    harness.dynamodb.put_item(TableName=harness.stack.table_name, Item=item("EXEC#e", "META"))
    assert int(stream_records(harness)[-1]["dynamodb"]["SequenceNumber"]) == int(numbers[-1]) + 1
    streams = harness.pump._streams._client  # the plain DynamoDB Streams client
    iterator = streams.get_shard_iterator(
        StreamArn=harness.stack.stream_arn,
        ShardId=shard(harness).id,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=numbers[0],
    )["ShardIterator"]
    with pytest.raises(ClientError) as refused:
        streams.get_records(ShardIterator=iterator)
    assert refused.value.response["Error"]["Code"] == "TrimmedDataAccessException"


def test_records_older_than_a_day_go_even_when_unread(harness: Harness) -> None:
    seed(harness)
    stream = shard(harness)

    assert moto_patches.trim_stream(stream, keep_from=None) == 0
    assert moto_patches.trim_stream(stream, keep_from=None, now=datetime.now(UTC) + timedelta(hours=25)) == 3
    assert stream.items == []


def test_the_failure_handler_reads_a_trimmed_batch_as_gone(harness: Harness) -> None:
    from flowcore.adapters.stream import StreamArchive

    seed(harness)
    first = stream_records(harness)[0]["dynamodb"]["SequenceNumber"]
    moto_patches.trim_stream(shard(harness), keep_from=int(first) + 3)
    batch = {
        "shardId": shard(harness).id,
        "startSequenceNumber": first,
        "endSequenceNumber": first,
        "streamArn": harness.stack.stream_arn,
        "batchSize": 1,
    }
    reader = StreamArchive(harness.pump._streams._client)  # what the failure handler reads a failed batch with

    assert list(reader.dispatches(batch)) == []


def test_shard_iterators_expire_oldest_first(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_patches, "MAX_LIVE_ITERATORS", 3)
    streams = harness.pump._streams._client
    seed(harness)

    def iterator() -> str:
        token: str = streams.get_shard_iterator(
            StreamArn=harness.stack.stream_arn, ShardId=shard(harness).id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return token

    oldest = iterator()
    for _ in range(4):
        newest = iterator()

    assert len(streams.get_records(ShardIterator=newest)["Records"]) == 3
    with pytest.raises(ClientError) as expired:
        streams.get_records(ShardIterator=oldest)
    assert expired.value.response["Error"]["Code"] == "ExpiredIteratorException"


def test_items_records_and_iterators_are_not_kept_for_the_dashboard(harness: Harness) -> None:
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import StreamRecord
    from moto.dynamodbstreams.models import ShardIterator

    seed(harness)
    stream_records(harness)
    everything(harness)

    assert Item.instances_tracked == []
    assert StreamRecord.instances_tracked == []
    assert ShardIterator.instances_tracked == []
    assert moto_table(harness) in Table.instances_tracked  # the dashboard still lists tables


# -- queries read their partition ------------------------------------------------------------------------------


def test_a_query_reads_its_partition_only_and_answers_as_before(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = harness.stack.table_name
    for execution in ("a", "b", "c"):
        for seq in range(5):
            harness.dynamodb.put_item(TableName=name, Item=item(f"EXEC#{execution}", f"RUN#{seq:06d}#t", status="S"))
    sizes: list[int] = []
    all_items = Table.all_items  # as patched: the partition, inside a table query

    def spy(table: Table) -> Any:
        found = all_items(table)
        sizes.append(len(found))
        return found

    monkeypatch.setattr(Table, "all_items", spy)
    query = {"TableName": name, "KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": s("EXEC#b")}}
    first = harness.dynamodb.query(**query, Limit=3, ScanIndexForward=False)
    second = harness.dynamodb.query(
        **query, Limit=3, ScanIndexForward=False, ExclusiveStartKey=first["LastEvaluatedKey"]
    )
    whole = harness.dynamodb.query(**query, ScanIndexForward=False)

    assert sizes == [5, 5, 5]  # each query saw its partition's 5 items, not the table's 15
    sort_keys = [entry["sk"]["S"] for entry in first["Items"] + second["Items"]]
    assert (
        sort_keys == [entry["sk"]["S"] for entry in whole["Items"]] == [f"RUN#{seq:06d}#t" for seq in range(4, -1, -1)]
    )
    assert "LastEvaluatedKey" not in second
    nothing = {**query, "ExpressionAttributeValues": {":pk": s("EXEC#none")}}
    assert harness.dynamodb.query(**nothing)["Items"] == []
    assert len(everything(harness)) == 15  # a scan still reads every partition

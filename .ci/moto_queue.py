# Creates a queue on a moto server and fills it, waits until it is empty, or checks that it
# is empty; used by .ci/run to run the SQS consumer against an SQS implementation this
# project did not write.
import sys, time, boto3
endpoint, action = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
def messages_left(url):
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

if action == "create":
    url = sqs.create_queue(QueueName=sys.argv[3])["QueueUrl"]
    for i in range(int(sys.argv[4])):
        sqs.send_message(QueueUrl=url, MessageBody=f"message {i}")
    print(url)
elif action == "wait-empty":
    url, deadline = sys.argv[3], time.monotonic() + float(sys.argv[4])
    while (left := messages_left(url)) > 0:
        if time.monotonic() > deadline:
            print(f"the queue still holds {left} messages after {sys.argv[4]} s", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.2)
elif action == "check":
    left = messages_left(sys.argv[3])
    print(f"messages left in the queue: {left}")
    sys.exit(0 if left == 0 else 1)

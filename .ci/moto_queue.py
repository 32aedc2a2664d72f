# Creates a queue on a moto server and fills it, or checks that it is empty; used by .ci/run
# to run the SQS consumer against an SQS implementation this project did not write.
import sys, boto3
endpoint, action = sys.argv[1], sys.argv[2]
sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
if action == "create":
    url = sqs.create_queue(QueueName=sys.argv[3])["QueueUrl"]
    for i in range(int(sys.argv[4])):
        sqs.send_message(QueueUrl=url, MessageBody=f"message {i}")
    print(url)
elif action == "check":
    attrs = sqs.get_queue_attributes(QueueUrl=sys.argv[3], AttributeNames=["All"])["Attributes"]
    left = int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])
    print(f"messages left in the queue: {left}")
    sys.exit(0 if left == 0 else 1)

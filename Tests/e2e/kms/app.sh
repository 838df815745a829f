# The secrets as the app finds them, and one call through the KMS endpoint (busybox wget: any
# client that speaks KMS's JSON; the SDKs are the sandbox tests').
echo "app: secret in the environment: $DB_PASSWORD"
echo "app: secret in a file: $(cat /run/secrets/db), mode $(stat -c %a /run/secrets/db), on $(stat -f -c %T /run/secrets)"
echo "app: AWS_ENDPOINT_URL_KMS=$AWS_ENDPOINT_URL_KMS"
answer=$(wget -q -O - --header 'X-Amz-Target: TrentService.GenerateRandom' --header 'Content-Type: application/x-amz-json-1.1' \
  --post-data '{"NumberOfBytes": 16}' "$AWS_ENDPOINT_URL_KMS/" 2>&1)
echo "app: GenerateRandom through the endpoint: $answer"

// The AWS SDK for Java 2.x (2.18, unmodified, as SageMaker Feature Store's jar ships it: its
// packages relocated under smfs.shaded) as the app's KMS client, through enclave-init's KMS
// endpoint. AWS_ENDPOINT_URL_KMS is read by 2.x only from 2.21 on, so the endpoint the enclave
// put there is handed to endpointOverride; the SDK's own credentials are arbitrary (the
// endpoint re-signs). Prints one JSON line.
//   java -cp sagemaker-feature-store-spark-sdk.jar KmsThroughEndpointV2.java KEY_ID
import java.net.URI;
import smfs.shaded.software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import smfs.shaded.software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import smfs.shaded.software.amazon.awssdk.core.SdkBytes;
import smfs.shaded.software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import smfs.shaded.software.amazon.awssdk.regions.Region;
import smfs.shaded.software.amazon.awssdk.services.kms.KmsClient;
import smfs.shaded.software.amazon.awssdk.services.kms.model.GenerateDataKeyResponse;
import smfs.shaded.software.amazon.awssdk.services.kms.model.KmsException;

public class KmsThroughEndpointV2 {
    public static void main(String[] args) {
        KmsClient kms = KmsClient.builder()
            .endpointOverride(URI.create(System.getenv("AWS_ENDPOINT_URL_KMS")))
            .region(Region.US_EAST_1)
            .httpClient(UrlConnectionHttpClient.create())
            .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("AKIDANYTHING", "anything")))
            .build();
        GenerateDataKeyResponse key = kms.generateDataKey(r -> r.keyId(args[0]).keySpec("AES_256"));
        SdkBytes again = kms.decrypt(r -> r.ciphertextBlob(key.ciphertextBlob())).plaintext();
        String error = "none";
        try {
            kms.decrypt(r -> r.ciphertextBlob(SdkBytes.fromByteArray(new byte[] {1, 2, 3})));
        } catch (KmsException e) {
            error = e.awsErrorDetails().errorCode();
        }
        System.out.println("{\"length\": " + key.plaintext().asByteArray().length + ", \"matches\": " + key.plaintext().equals(again)
            + ", \"error\": \"" + error + "\"}");
    }
}

// The AWS SDK for Java (v1, aws-java-sdk-bundle, unmodified) as the app's KMS client, through
// enclave-init's KMS endpoint. SDK v1 does not read AWS_ENDPOINT_URL_KMS (only v2 does), so the
// endpoint the enclave put there is handed to the builder, as a v1 app configures any endpoint;
// the SDK's own credentials are arbitrary (the endpoint re-signs). Prints one JSON line.
//   java -cp aws-java-sdk-bundle.jar KmsThroughEndpoint.java KEY_ID
import com.amazonaws.auth.AWSStaticCredentialsProvider;
import com.amazonaws.auth.BasicAWSCredentials;
import com.amazonaws.client.builder.AwsClientBuilder.EndpointConfiguration;
import com.amazonaws.services.kms.AWSKMS;
import com.amazonaws.services.kms.AWSKMSClientBuilder;
import com.amazonaws.services.kms.model.AWSKMSException;
import com.amazonaws.services.kms.model.DecryptRequest;
import com.amazonaws.services.kms.model.GenerateDataKeyRequest;
import com.amazonaws.services.kms.model.GenerateDataKeyResult;
import java.nio.ByteBuffer;

public class KmsThroughEndpoint {
    public static void main(String[] args) {
        AWSKMS kms = AWSKMSClientBuilder.standard()
            .withEndpointConfiguration(new EndpointConfiguration(System.getenv("AWS_ENDPOINT_URL_KMS"), "us-east-1"))
            .withCredentials(new AWSStaticCredentialsProvider(new BasicAWSCredentials("AKIDANYTHING", "anything")))
            .build();
        GenerateDataKeyResult key = kms.generateDataKey(new GenerateDataKeyRequest().withKeyId(args[0]).withKeySpec("AES_256"));
        ByteBuffer again = kms.decrypt(new DecryptRequest().withCiphertextBlob(key.getCiphertextBlob())).getPlaintext();
        String error = "none";
        try {
            kms.decrypt(new DecryptRequest().withCiphertextBlob(ByteBuffer.wrap(new byte[] {1, 2, 3})));
        } catch (AWSKMSException e) {
            error = e.getErrorCode();
        }
        System.out.println("{\"length\": " + key.getPlaintext().remaining() + ", \"matches\": " + key.getPlaintext().equals(again)
            + ", \"error\": \"" + error + "\"}");
    }
}

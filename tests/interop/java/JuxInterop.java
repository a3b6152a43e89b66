// Interop check with the JDK's XML Signature API (javax.xml.crypto.dsig, JSR 105).
// Usage: java JuxInterop verify FILE CERT.pem      -> exit 0 when the enveloped signature verifies
//        java JuxInterop sign IN OUT KEY.pk8.der CERT.pem -> enveloped RSA-SHA256 / exc-c14n signature
import java.io.*;
import java.nio.file.*;
import java.security.*;
import java.security.cert.*;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.*;
import javax.xml.crypto.dsig.*;
import javax.xml.crypto.dsig.dom.*;
import javax.xml.crypto.dsig.keyinfo.*;
import javax.xml.crypto.dsig.spec.*;
import javax.xml.parsers.*;
import javax.xml.transform.*;
import javax.xml.transform.dom.*;
import javax.xml.transform.stream.*;
import org.w3c.dom.*;

public class JuxInterop {
    static Document parse(String path) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        return f.newDocumentBuilder().parse(new File(path));
    }

    static X509Certificate cert(String path) throws Exception {
        try (InputStream in = new FileInputStream(path)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
    }

    public static void main(String[] args) throws Exception {
        XMLSignatureFactory fac = XMLSignatureFactory.getInstance("DOM");
        if (args[0].equals("verify")) {
            Document doc = parse(args[1]);
            NodeList nl = doc.getElementsByTagNameNS(XMLSignature.XMLNS, "Signature");
            if (nl.getLength() != 1) { System.out.println("signatures: " + nl.getLength()); System.exit(2); }
            DOMValidateContext ctx = new DOMValidateContext(cert(args[2]).getPublicKey(), nl.item(0));
            ctx.setProperty("org.jcp.xml.dsig.secureValidation", Boolean.TRUE);
            XMLSignature sig = fac.unmarshalXMLSignature(ctx);
            boolean ok = sig.validate(ctx);
            System.out.println(ok ? "VALID" : "INVALID");
            System.exit(ok ? 0 : 1);
        } else {
            Document doc = parse(args[1]);
            byte[] der = Files.readAllBytes(Paths.get(args[3]));
            PrivateKey key = KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der));
            X509Certificate c = cert(args[4]);
            Reference ref = fac.newReference("", fac.newDigestMethod(DigestMethod.SHA256, null),
                List.of(fac.newTransform(Transform.ENVELOPED, (TransformParameterSpec) null),
                        fac.newTransform(CanonicalizationMethod.EXCLUSIVE, (TransformParameterSpec) null)), null, null);
            SignedInfo si = fac.newSignedInfo(
                fac.newCanonicalizationMethod(CanonicalizationMethod.EXCLUSIVE, (C14NMethodParameterSpec) null),
                fac.newSignatureMethod(SignatureMethod.RSA_SHA256, null), List.of(ref));
            KeyInfoFactory kif = fac.getKeyInfoFactory();
            KeyInfo ki = kif.newKeyInfo(List.of(kif.newX509Data(List.of(c))));
            fac.newXMLSignature(si, ki).sign(new DOMSignContext(key, doc.getDocumentElement()));
            Transformer t = TransformerFactory.newInstance().newTransformer();
            t.transform(new DOMSource(doc), new StreamResult(new FileOutputStream(args[2])));
        }
    }
}

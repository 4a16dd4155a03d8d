package org.fhiradapter.conformance;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.utilities.http.ManagedWebAccess;
import org.hl7.fhir.utilities.settings.FhirSettings;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Validates FHIR JSON files (Bundles or single resources) with HAPI FHIR's {@link FhirInstanceValidator},
 * fully offline.
 *
 * <pre>
 *   java -jar fhir-adapter-hapi-validator.jar --version R4|R5 [--output report.json] [--definitions DIR]... FILE_OR_DIR...
 * </pre>
 *
 * <p>{@code --definitions DIR} loads every {@code *.json} conformance resource of DIR (StructureDefinition,
 * CodeSystem, ValueSet, SearchParameter) ahead of the core definitions: the project's own extensions and
 * the cross-version extension definitions it ships, so they are validated instead of passed through.
 *
 * <p>Support chain: {@link DefaultProfileValidationSupport} (core StructureDefinitions, ValueSets and
 * CodeSystems from hapi-fhir-validation-resources-r4/-r5), {@link InMemoryTerminologyServerValidationSupport}
 * (expands and checks codes against what is loaded), {@link CommonCodeSystemsTerminologyService} (UCUM,
 * languages, currencies, ...) and {@link SnapshotGeneratingValidationSupport}. No terminology server and no
 * remote fetching of profiles: an unknown code system, profile or extension definition is reported, never
 * looked up on the network.
 *
 * <p>Output: one JSON document on stdout (or {@code --output FILE}): per file its issues
 * (severity, location, line, column, messageId, message) and counts; then totals. Exit code 0 when no
 * issue has severity error or fatal, 1 when one has, 2 on a usage or I/O problem.
 */
public final class HapiValidate {

    private HapiValidate() {
    }

    public static void main(String[] args) {
        // Keep stdout for our JSON only: anything the libraries print goes to stderr.
        PrintStream realOut = System.out;
        System.setOut(System.err);
        int code;
        try {
            code = run(args, realOut);
        } catch (UsageException e) {
            System.err.println("error: " + e.getMessage());
            System.err.println(USAGE);
            code = 2;
        } catch (IOException e) {
            System.err.println("error: " + e);
            code = 2;
        }
        realOut.flush();
        System.exit(code);
    }

    static final String USAGE =
        "usage: java -jar fhir-adapter-hapi-validator.jar --version R4|R5 [--output FILE] [--definitions DIR]... "
            + "FILE_OR_DIR...";

    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    static int run(String[] args, PrintStream out) throws UsageException, IOException {
        String version = null;
        String output = null;
        List<String> inputs = new ArrayList<>();
        List<String> definitions = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (arg.equals("--version") || arg.equals("--fhir-version")) {
                if (++i >= args.length) {
                    throw new UsageException(arg + " needs a value");
                }
                version = args[i].toUpperCase(Locale.ROOT);
            } else if (arg.startsWith("--version=")) {
                version = arg.substring("--version=".length()).toUpperCase(Locale.ROOT);
            } else if (arg.equals("--output") || arg.equals("-o")) {
                if (++i >= args.length) {
                    throw new UsageException(arg + " needs a value");
                }
                output = args[i];
            } else if (arg.equals("--definitions")) {
                if (++i >= args.length) {
                    throw new UsageException(arg + " needs a value");
                }
                definitions.add(args[i]);
            } else if (arg.equals("--help") || arg.equals("-h")) {
                System.err.println(USAGE);
                return 0;
            } else if (arg.startsWith("-")) {
                throw new UsageException("unknown option " + arg);
            } else {
                inputs.add(arg);
            }
        }
        if (version == null) {
            throw new UsageException("--version R4|R5 is required");
        }
        if (inputs.isEmpty()) {
            throw new UsageException("no input files");
        }
        long started = System.nanoTime();
        FhirContext ctx = context(version);
        List<Path> files = expand(inputs);
        if (files.isEmpty()) {
            throw new UsageException("no .json files found in " + inputs);
        }

        FhirValidator validator = validator(ctx, loadDefinitions(ctx, definitions));
        // Warm up (loads the core definitions) so that per-file times mean something.
        validator.validateWithResult("{\"resourceType\":\"Basic\",\"code\":{\"text\":\"warm-up\"}}");
        long ready = System.nanoTime();

        Report report = new Report(version, hapiVersion());
        for (Path file : files) {
            long t0 = System.nanoTime();
            FileReport fr = new FileReport(file.toString());
            String text;
            try {
                text = Files.readString(file, StandardCharsets.UTF_8);
            } catch (IOException e) {
                fr.add("fatal", "", -1, -1, "READ_FAILED", "cannot read the file: " + e);
                fr.millis = (System.nanoTime() - t0) / 1_000_000;
                report.add(fr);
                continue;
            }
            try {
                ValidationResult result = validator.validateWithResult(text);
                for (SingleValidationMessage m : result.getMessages()) {
                    fr.add(severity(m.getSeverity()), m.getLocationString(), intOr(m.getLocationLine()),
                        intOr(m.getLocationCol()), m.getMessageId(), m.getMessage());
                }
            } catch (RuntimeException e) {
                fr.add("fatal", "", -1, -1, "VALIDATOR_EXCEPTION", "the validator failed: " + e);
            }
            fr.millis = (System.nanoTime() - t0) / 1_000_000;
            report.add(fr);
        }
        report.startupMillis = (ready - started) / 1_000_000;
        report.totalMillis = (System.nanoTime() - started) / 1_000_000;

        String json = report.toJson();
        if (output != null) {
            try (Writer w = new OutputStreamWriter(new FileOutputStream(output), StandardCharsets.UTF_8)) {
                w.write(json);
            }
        } else {
            out.print(json);
        }
        System.err.printf(Locale.ROOT, "hapi-validate %s: %d file(s), %d error(s), %d warning(s), %d information%n",
            version, report.files.size(), report.errors, report.warnings, report.information);
        return report.errors > 0 ? 1 : 0;
    }

    static FhirContext context(String version) throws UsageException {
        switch (version) {
            case "R4":
            case "4.0":
            case "4.0.1":
                return FhirContext.forR4();
            case "R5":
            case "5.0":
            case "5.0.0":
                return FhirContext.forR5();
            default:
                throw new UsageException("unsupported FHIR version " + version + " (R4 or R5)");
        }
    }

    static PrePopulatedValidationSupport loadDefinitions(FhirContext ctx, List<String> dirs)
        throws UsageException, IOException {
        PrePopulatedValidationSupport support = new PrePopulatedValidationSupport(ctx);
        if (dirs.isEmpty()) {
            return support;
        }
        for (Path file : expand(dirs)) {
            IBaseResource resource = ctx.newJsonParser().parseResource(Files.readString(file, StandardCharsets.UTF_8));
            support.addResource(resource);
        }
        return support;
    }

    static FhirValidator validator(FhirContext ctx, PrePopulatedValidationSupport definitions) {
        // Offline: the core library must never reach a terminology server or a package registry.
        FhirSettings.setProhibitNetworkAccess(true);
        ManagedWebAccess.setAccessPolicy(ManagedWebAccess.WebAccessPolicy.PROHIBITED);
        ValidationSupportChain chain = new ValidationSupportChain(
            definitions,
            new DefaultProfileValidationSupport(ctx),
            new InMemoryTerminologyServerValidationSupport(ctx),
            new CommonCodeSystemsTerminologyService(ctx),
            new SnapshotGeneratingValidationSupport(ctx));
        IValidationSupport support = chain;
        FhirInstanceValidator module = new FhirInstanceValidator(support);
        // Offline: never try to resolve references, profiles or terminology remotely.
        module.setValidatorResourceFetcher(null);
        module.setNoTerminologyChecks(false);
        module.setAnyExtensionsAllowed(true);
        module.setErrorForUnknownProfiles(true);
        FhirValidator validator = ctx.newValidator();
        validator.setValidateAgainstStandardSchema(false);
        validator.setValidateAgainstStandardSchematron(false);
        validator.registerValidatorModule(module);
        return validator;
    }

    static String hapiVersion() {
        String v = HapiValidate.class.getPackage().getImplementationVersion();
        if (v == null) {
            v = FhirContext.class.getPackage().getImplementationVersion();
        }
        return v == null ? "unknown" : v;
    }

    static List<Path> expand(List<String> inputs) throws UsageException, IOException {
        List<Path> files = new ArrayList<>();
        for (String input : inputs) {
            Path p = Paths.get(input);
            if (Files.isDirectory(p)) {
                try (Stream<Path> s = Files.list(p)) {
                    s.filter(f -> Files.isRegularFile(f) && f.getFileName().toString().endsWith(".json"))
                        .sorted()
                        .forEach(files::add);
                }
            } else if (Files.isRegularFile(p)) {
                files.add(p);
            } else {
                throw new UsageException("no such file or directory: " + input);
            }
        }
        return files;
    }

    static int intOr(Integer i) {
        return i == null ? -1 : i;
    }

    static String severity(ResultSeverityEnum s) {
        if (s == null) {
            return "information";
        }
        switch (s) {
            case FATAL:
                return "fatal";
            case ERROR:
                return "error";
            case WARNING:
                return "warning";
            default:
                return "information";
        }
    }

    // ------------------------------------------------------------------ JSON report (no extra dependency)

    static final class Issue {
        final String severity;
        final String location;
        final int line;
        final int column;
        final String messageId;
        final String message;

        Issue(String severity, String location, int line, int column, String messageId, String message) {
            this.severity = severity;
            this.location = location;
            this.line = line;
            this.column = column;
            this.messageId = messageId;
            this.message = message;
        }
    }

    static final class FileReport {
        final String file;
        final List<Issue> issues = new ArrayList<>();
        int errors;
        int warnings;
        int information;
        long millis;

        FileReport(String file) {
            this.file = file;
        }

        void add(String severity, String location, int line, int column, String messageId, String message) {
            issues.add(new Issue(severity, location, line, column, messageId, message));
            if (severity.equals("error") || severity.equals("fatal")) {
                errors++;
            } else if (severity.equals("warning")) {
                warnings++;
            } else {
                information++;
            }
        }
    }

    static final class Report {
        final String version;
        final String hapiVersion;
        final List<FileReport> files = new ArrayList<>();
        int errors;
        int warnings;
        int information;
        int filesWithErrors;
        long startupMillis;
        long totalMillis;

        Report(String version, String hapiVersion) {
            this.version = version;
            this.hapiVersion = hapiVersion;
        }

        void add(FileReport fr) {
            files.add(fr);
            errors += fr.errors;
            warnings += fr.warnings;
            information += fr.information;
            if (fr.errors > 0) {
                filesWithErrors++;
            }
        }

        String toJson() {
            StringBuilder b = new StringBuilder(1 << 16);
            b.append("{\n  \"fhirVersion\": ").append(str(version));
            b.append(",\n  \"validator\": ").append(str("HAPI FHIR FhirInstanceValidator " + hapiVersion));
            b.append(",\n  \"hapiVersion\": ").append(str(hapiVersion));
            b.append(",\n  \"files\": [");
            for (int i = 0; i < files.size(); i++) {
                FileReport f = files.get(i);
                b.append(i == 0 ? "\n" : ",\n");
                b.append("    {\"file\": ").append(str(f.file));
                b.append(", \"errors\": ").append(f.errors);
                b.append(", \"warnings\": ").append(f.warnings);
                b.append(", \"information\": ").append(f.information);
                b.append(", \"millis\": ").append(f.millis);
                b.append(", \"issues\": [");
                for (int j = 0; j < f.issues.size(); j++) {
                    Issue is = f.issues.get(j);
                    b.append(j == 0 ? "\n" : ",\n");
                    b.append("      {\"severity\": ").append(str(is.severity));
                    b.append(", \"location\": ").append(str(is.location));
                    b.append(", \"line\": ").append(is.line);
                    b.append(", \"column\": ").append(is.column);
                    b.append(", \"messageId\": ").append(str(is.messageId));
                    b.append(", \"message\": ").append(str(is.message));
                    b.append("}");
                }
                b.append(f.issues.isEmpty() ? "]}" : "\n    ]}");
            }
            b.append(files.isEmpty() ? "]" : "\n  ]");
            b.append(",\n  \"totals\": {\"files\": ").append(files.size());
            b.append(", \"filesWithErrors\": ").append(filesWithErrors);
            b.append(", \"errors\": ").append(errors);
            b.append(", \"warnings\": ").append(warnings);
            b.append(", \"information\": ").append(information);
            b.append(", \"startupMillis\": ").append(startupMillis);
            b.append(", \"totalMillis\": ").append(totalMillis);
            b.append("}\n}\n");
            return b.toString();
        }

        static String str(String s) {
            if (s == null) {
                return "null";
            }
            StringBuilder b = new StringBuilder(s.length() + 2);
            b.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"':
                        b.append("\\\"");
                        break;
                    case '\\':
                        b.append("\\\\");
                        break;
                    case '\n':
                        b.append("\\n");
                        break;
                    case '\r':
                        b.append("\\r");
                        break;
                    case '\t':
                        b.append("\\t");
                        break;
                    default:
                        if (c < 0x20) {
                            b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                        } else {
                            b.append(c);
                        }
                }
            }
            return b.append('"').toString();
        }
    }
}

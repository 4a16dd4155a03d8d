package org.fhiradapter.hapiserver;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.context.PropertyPlaceholderAutoConfiguration;
import org.springframework.boot.autoconfigure.web.embedded.EmbeddedWebServerFactoryCustomizerAutoConfiguration;
import org.springframework.boot.autoconfigure.web.servlet.ServletWebServerFactoryAutoConfiguration;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/**
 * A minimal HAPI FHIR JPA server (R4, H2 in memory) for fhir-adapter's integration tests.
 *
 * <p>Deliberately no {@code @EnableAutoConfiguration}: Spring Boot only provides the embedded Tomcat
 * (honouring {@code --server.address} and {@code --server.port}); everything else (data source,
 * entity manager factory, transaction manager, HAPI's JPA configuration and the FHIR servlet) is
 * declared explicitly in {@link FhirJpaConfig} and {@link FhirServletConfig}, so no Boot auto-configuration
 * (Flyway, Quartz, DataSource, JPA) interferes with HAPI's own.
 */
@Configuration(proxyBeanMethods = false)
@ImportAutoConfiguration({
	PropertyPlaceholderAutoConfiguration.class,
	ServletWebServerFactoryAutoConfiguration.class,
	EmbeddedWebServerFactoryCustomizerAutoConfiguration.class
})
@Import({FhirJpaConfig.class, FhirServletConfig.class})
public class HapiServerApplication {

	public static void main(String[] args) {
		SpringApplication.run(HapiServerApplication.class, args);
	}
}

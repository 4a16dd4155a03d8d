package org.fhiradapter.hapiserver;

import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.config.JpaConfig;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.SearchPreferHandlingInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Meta;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The FHIR REST endpoint at {@code /fhir/*}: every JPA resource provider HAPI generated for R4, the JPA
 * system provider (transaction, batch, history, $meta ...), database-backed paging and HAPI's JPA
 * CapabilityStatement (which lists the search parameters the server really indexes), and the Bulk Data
 * {@code $export} operations (system, Patient and Group level; batch2 jobs writing NDJSON Binary resources).
 */
@Configuration
public class FhirServletConfig {

	@Bean
	public RestfulServer fhirRestfulServer(
			FhirContext fhirContext,
			@Qualifier("jpaInterceptorService") IInterceptorService interceptorService,
			ResourceProviderFactory resourceProviderFactory,
			JpaSystemProvider<Bundle, Meta> systemProvider,
			IFhirSystemDao<Bundle, Meta> systemDao,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			@Qualifier(JpaConfig.JPA_VALIDATION_SUPPORT_CHAIN) IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			BulkDataExportProvider bulkDataExportProvider) {
		RestfulServer server = new RestfulServer(fhirContext, interceptorService);
		server.setImplementationDescription("fhir-adapter HAPI FHIR JPA test server (R4, H2 in memory)");
		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		pagingProvider.setDefaultPageSize(20);
		pagingProvider.setMaximumPageSize(500);
		server.setPagingProvider(pagingProvider); // HapiJpaConfig's bean
		server.registerProviders(resourceProviderFactory.createProviders());
		server.registerProvider(systemProvider);
		// JpaConfig's bean: $export, Patient/$export, Group/[id]/$export and $export-poll-status
		server.registerProvider(bulkDataExportProvider);
		JpaCapabilityStatementProvider capabilities = new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport);
		capabilities.setImplementationDescription("fhir-adapter HAPI FHIR JPA test server");
		server.setServerConformanceProvider(capabilities);
		// Prefer: handling=strict -> unknown search parameters are an error; lenient -> ignored
		server.registerInterceptor(new SearchPreferHandlingInterceptor(searchParamRegistry));
		return server;
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServletRegistration(RestfulServer fhirRestfulServer) {
		ServletRegistrationBean<RestfulServer> registration =
				new ServletRegistrationBean<>(fhirRestfulServer, "/fhir/*");
		registration.setName("fhir");
		registration.setLoadOnStartup(1); // initialise before the port answers /fhir/metadata
		return registration;
	}
}

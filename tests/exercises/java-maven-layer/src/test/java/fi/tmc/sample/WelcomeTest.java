package fi.tmc.sample;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class WelcomeTest {
	@Test
	public void welcomesByName() {
		assertEquals("Hello, Ada! Welcome to the course.", Welcome.welcome("Ada"));
	}

	@Test
	public void libraryVersionIsTheLayers() {
		assertEquals("greeting-lib 1.0 (layer)", fi.tmc.course.Greeting.VERSION);
	}
}
